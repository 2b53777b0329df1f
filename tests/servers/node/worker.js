'use strict';
// A real BullMQ worker for the pytest-deploycheck test bed (started by tests/servers/bullmq.py).
//
// Non-secret settings come as flags; the Redis password comes from DC_BULLMQ_PASSWORD so it never
// shows in `ps` or in /proc/<pid>/cmdline.  The processor's behaviour is chosen by --mode:
//   ok     completes every job (a healthy consumer)
//   throw  fails every job (a consumer whose code is broken: jobs land in the failed set)
//   hang   never finishes a job (the launcher kills the process mid-job to leave a stalled job)
// Lines on stdout say what happened, for the launcher's log when something goes wrong.
const { Worker } = require('bullmq');
const { parseQueueArgs, redisConnection } = require('./common');

const values = parseQueueArgs(
  {
    name: { type: 'string' },
    mode: { type: 'string', default: 'ok' },
    concurrency: { type: 'string', default: '1' },
    'lock-duration': { type: 'string', default: '30000' },
    'stalled-interval': { type: 'string', default: '30000' },
  },
  'usage: node worker.js --port N --queue NAME [--username U] [--name WORKER] [--mode ok|throw|hang]',
);

const processors = {
  ok: async (job) => ({ handled: job.id }),
  throw: async (job) => {
    throw new Error(`job ${job.id}: cannot process ${job.name}: unsupported input`);
  },
  hang: async (job) => {
    console.log(`active ${job.id}`);
    // Never settles: the job stays active while this process lives and holds its lock.
    return new Promise(() => {});
  },
};
const processor = processors[values.mode];
if (!processor) {
  console.error(`unknown --mode ${values.mode}`);
  process.exit(2);
}

const connection = {
  ...redisConnection(values),
  // BullMQ requires this for blocking connections; failing fast makes a broken test bed visible.
  maxRetriesPerRequest: null,
};

const worker = new Worker(values.queue, processor, {
  connection,
  prefix: values.prefix,
  name: values.name,
  concurrency: Number(values.concurrency),
  lockDuration: Number(values['lock-duration']),
  stalledInterval: Number(values['stalled-interval']),
});

worker.on('ready', () => console.log(`ready ${values.queue}`));
worker.on('completed', (job) => console.log(`completed ${job.id}`));
worker.on('failed', (job, err) => console.log(`failed ${job ? job.id : '?'}: ${err.message}`));
worker.on('error', (err) => console.error(`error: ${err.message}`));

async function shutdown() {
  await worker.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
