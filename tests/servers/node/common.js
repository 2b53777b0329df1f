'use strict';
// What produce.js and worker.js share: the flags that name the queue and its Redis, and the
// connection they open.  The Redis password comes from DC_BULLMQ_PASSWORD, never from the
// command line, so it never shows in `ps` or in /proc/<pid>/cmdline.
const { parseArgs } = require('node:util');

// Parses the common flags plus `options` (the script's own); without --port and --queue prints
// `usage` and exits 2.
function parseQueueArgs(options, usage) {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      username: { type: 'string' },
      queue: { type: 'string' },
      prefix: { type: 'string', default: 'bull' },
      ...options,
    },
  });
  if (!values.port || !values.queue) {
    console.error(usage);
    process.exit(2);
  }
  return values;
}

// The ioredis connection options for the parsed flags.
function redisConnection(values) {
  return {
    host: values.host,
    port: Number(values.port),
    username: values.username,
    password: process.env.DC_BULLMQ_PASSWORD || undefined,
  };
}

module.exports = { parseQueueArgs, redisConnection };
