# Push jobs with Sidekiq's own client: ruby enqueue.rb CLASS COUNT [IN_SECONDS]
# IN_SECONDS schedules them that far ahead (the schedule set).  Run under faketime to enqueue
# "an hour ago": Sidekiq stamps enqueued_at with the client's clock.
require_relative "sidekiq_jobs"

klass = Object.const_get(ARGV.fetch(0))
count = Integer(ARGV.fetch(1))
delay = ARGV[2] ? Float(ARGV[2]) : nil
count.times do |number|
  jid = delay ? klass.perform_in(delay, number) : klass.perform_async(number)
  puts jid
end
