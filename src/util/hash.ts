import {createHash} from 'node:crypto'

/** Hex SHA-256 of a string (deterministic ids, cache keys). */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}
