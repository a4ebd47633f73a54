/**
 * Code cells the sidebar inserts for an adapter.
 */
import type { IAdapter } from './api';

/** Adapters whose name or base URL says PagerDuty get the `%atlas incidents` magic. */
function isPagerDuty(adapter: IAdapter): boolean {
  const text = `${adapter.name} ${adapter.baseUrl ?? ''}`.toLowerCase();
  return text.includes('pagerduty');
}

/** A Python string literal for `value` (names are validated server-side; be safe anyway). */
function pyString(value: string): string {
  return JSON.stringify(value);
}

/** Shell-safe word for a magic line: adapter names are [a-z0-9-] by config validation. */
function magicWord(value: string): string {
  return /^[A-Za-z0-9_.-]+$/.test(value) ? value : pyString(value);
}

export function snippetFor(adapter: IAdapter): string {
  if (isPagerDuty(adapter)) {
    return ['%load_ext atlas_canvas', `%atlas incidents --adapter ${magicWord(adapter.name)}`].join(
      '\n'
    );
  }
  const path = `/v1/apis/http/${encodeURIComponent(adapter.name)}/`;
  return [
    'from atlas_canvas import atlasProxyFetch',
    '',
    `r = await atlasProxyFetch(${pyString(path)})`,
    'print(r.status)',
    'await r.json()'
  ].join('\n');
}
