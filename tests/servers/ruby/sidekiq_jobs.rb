# Jobs of the Sidekiq test bed (tests/servers/sidekiq.py), loaded by `sidekiq -r` and by enqueue.rb.
# The broker comes from REDIS_URL and DC_SIDEKIQ_REDIS_PASSWORD (never on a command line).
require "sidekiq"

redis = { url: ENV.fetch("REDIS_URL"), password: ENV.fetch("DC_SIDEKIQ_REDIS_PASSWORD"), username: ENV.fetch("DC_SIDEKIQ_REDIS_USER") }
Sidekiq.configure_server { |config| config.redis = redis }
Sidekiq.configure_client { |config| config.redis = redis }

# Mail is sent at once.
class WelcomeJob
  include Sidekiq::Worker
  sidekiq_options queue: "mailers"

  def perform(number)
    Sidekiq.logger.info("welcome #{number}")
  end
end

# Every image fails to decode; with retry: 0 a failed job goes straight to the dead set.
class ThumbnailJob
  include Sidekiq::Worker
  sidekiq_options queue: "thumbnails", retry: 0

  def perform(number)
    raise ArgumentError, "cannot decode image #{number}"
  end
end

# A report that waits on a peer that never answers.
class ReportJob
  include Sidekiq::Worker
  sidekiq_options queue: "reports", retry: 0

  def perform(number)
    sleep 3600
  end
end
