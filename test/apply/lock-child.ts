/**
 * A child process for the lock concurrency test: the real lock module on the real filesystem.
 * Reads commands from stdin, one per line: `go <stateDir> <lab>` (try to take the lab's lock;
 * prints `held <lab>` or `refused <lab> <code>`), `release <lab>`, `exit`.
 */
import {createInterface} from 'node:readline'

import {acquireLock, type LabLock} from '../../src/apply/lock.js'
import {RootedFs} from '../../src/host/fs.js'

const fs = new RootedFs('/')
const held = new Map<string, LabLock>()
const rl = createInterface({input: process.stdin})
rl.on('line', (line) => {
  const [cmd, a, b] = line.trim().split(' ')
  if (cmd === 'go' && a !== undefined && b !== undefined) {
    acquireLock(fs, a, b).then(
      (lock) => {
        held.set(b, lock)
        process.stdout.write(`held ${b}\n`)
      },
      (error: unknown) => process.stdout.write(`refused ${b} ${(error as {code?: string}).code ?? String(error).replaceAll(/\s+/g, '_')}\n`),
    )
  } else if (cmd === 'release' && a !== undefined) {
    const lock = held.get(a)
    held.delete(a)
    void (lock?.release() ?? Promise.resolve()).then(() => process.stdout.write(`released ${a}\n`))
  } else if (cmd === 'exit') {
    process.exit(0)
  }
})
process.stdout.write('ready\n')
