// Helpers shared by the runtime specs: collecting events, naming things
// uniquely, and small async utilities.

import * as relay from '../index.mjs'
import type { RelayEvent } from '../index.mjs'

let counter = 0

/** A name no other test in this process uses. */
export function unique(prefix: string): string {
  counter += 1
  return `${prefix}-${process.pid}-${counter}`
}

export interface Collector {
  events: RelayEvent[]
  /** Flush, then the events collected so far. */
  flushed(): Promise<RelayEvent[]>
  stop(): void
}

/** Subscribe a collector for the rest of the test (remove it with `stop`). */
export function collect(): Collector {
  const events: RelayEvent[] = []
  const registration = relay.subscribe(unique('collector'), (e) => {
    events.push(e)
  })
  return {
    events,
    async flushed() {
      await relay.flush()
      return events
    },
    stop() {
      registration.dispose()
    },
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Events of scope `name` (start, end). */
export function scopeEvents(events: RelayEvent[], name: string): RelayEvent[] {
  return events.filter((e) => e.kind === 'scope' && e.name === name)
}

/** The end event of scope `name`. */
export function endOf(events: RelayEvent[], name: string): RelayEvent {
  const e = events.find((x) => x.kind === 'scope' && x.name === name && x.scope_category === 'end')
  if (e === undefined) throw new Error(`no end event for '${name}'`)
  return e
}

/** The start event of scope `name`. */
export function startOf(events: RelayEvent[], name: string): RelayEvent {
  const e = events.find((x) => x.kind === 'scope' && x.name === name && x.scope_category === 'start')
  if (e === undefined) throw new Error(`no start event for '${name}'`)
  return e
}
