'use strict';
// Adds jobs to a BullMQ queue and exits: the producer side of the test bed (tests/servers/bullmq.py).
// The Redis password comes from DC_BULLMQ_PASSWORD, never from the command line.
// Prints the ids of the jobs it added, one per line.
const { Queue } = require('bullmq');
const { parseQueueArgs, redisConnection } = require('./common');

const values = parseQueueArgs(
  {
    name: { type: 'string', default: 'job' },
    count: { type: 'string', default: '1' },
    'delay-ms': { type: 'string', default: '0' },
    // Back-dates the jobs' creation time (BullMQ's own `timestamp` job option), so a backlog can be
    // hours old and a delayed job hours overdue without the test waiting hours.
    'age-ms': { type: 'string', default: '0' },
  },
  'usage: node produce.js --port N --queue NAME [--count N] [--delay-ms MS] [--age-ms MS] [--name JOBNAME]',
);

async function main() {
  const queue = new Queue(values.queue, {
    prefix: values.prefix,
    connection: redisConnection(values),
  });
  const delay = Number(values['delay-ms']);
  const timestamp = Date.now() - Number(values['age-ms']);
  const jobs = Array.from({ length: Number(values.count) }, (_, i) => ({
    name: values.name,
    data: { seq: i + 1 },
    // attempts: 1 so a failing processor leaves the job in the failed set at once.
    opts: { attempts: 1, timestamp, ...(delay > 0 ? { delay } : {}) },
  }));
  const added = await queue.addBulk(jobs);
  for (const job of added) console.log(job.id);
  await queue.close();
}

main().catch((err) => {
  console.error(`produce failed: ${err.message}`);
  process.exit(1);
});
