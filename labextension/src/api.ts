/**
 * Calls to the atlas-canvas server extension (`<base>/atlas-canvas/...`).
 *
 * Requests go through `ServerConnection.makeRequest`, which adds Jupyter's token or XSRF
 * header; the server strips both before anything is proxied upstream.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** One active adapter as listed by `GET atlas-canvas/adapters`. */
export interface IAdapter {
  kind: string;
  name: string;
  baseUrl: string | null;
  secretVariables: string[];
}

export interface IAdapterList {
  adapters: IAdapter[];
  configFile: string;
  allowEdits: boolean;
  warnings?: string[];
}

export type HealthState =
  'ok' | 'reachable' | 'auth' | 'error' | 'down' | 'secret-missing' | 'unsupported';

/** `GET atlas-canvas/adapters/<name>/health`. */
export interface IHealth {
  name: string;
  kind: string;
  reachable: boolean;
  status: number | null;
  latencyMs: number | null;
  state: HealthState;
  message: string | null;
  secrets: { name: string; set: boolean }[];
}

/**
 * An error answered by the server extension, in Atlas's wire form
 * `{"error": {"code", "message", "hint", "field"}}` (`AtlasError.to_dict()` on the server).
 */
export class AtlasApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The fix alone, when the server names one (`message` already ends with it). */
    readonly hint: string | null = null,
    /**
     * What the error is about: a form field / JSON key of the request (`name`, `baseUrl`,
     * `headers`) or, for a config error, its key path; `null` when it is about no one field.
     */
    readonly field: string | null = null,
    /** The whole JSON body of the answer (the adapter list's errors also carry `configFile`). */
    readonly body: unknown = null
  ) {
    super(message);
    this.name = 'AtlasApiError';
  }
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' && value ? value : null;
}

/** The `AtlasApiError` for a non-2xx answer; tolerant of bodies that are not Atlas errors. */
function errorFromAnswer(status: number, body: any): AtlasApiError {
  const err = body && typeof body === 'object' ? body.error : null;
  const wire = err && typeof err === 'object' ? err : {};
  return new AtlasApiError(
    status,
    stringOrNull(wire.code) ?? `HTTP_${status}`,
    stringOrNull(wire.message) ?? `the server answered ${status}`,
    stringOrNull(wire.hint),
    stringOrNull(wire.field),
    body
  );
}

async function request<T>(
  path: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<{ status: number; data: T }> {
  const url = URLExt.join(settings.baseUrl, 'atlas-canvas', path);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (reason) {
    throw new AtlasApiError(0, 'NetworkError', String(reason));
  }
  const text = await response.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    throw errorFromAnswer(response.status, data);
  }
  return { status: response.status, data: data as T };
}

export async function listAdapters(): Promise<IAdapterList> {
  return (await request<IAdapterList>('adapters')).data;
}

export async function adapterHealth(name: string): Promise<IHealth> {
  return (await request<IHealth>(`adapters/${encodeURIComponent(name)}/health`)).data;
}

export async function addAdapter(
  name: string,
  baseUrl: string,
  headers: string[]
): Promise<IAdapter> {
  const { data } = await request<{ adapter: IAdapter }>('adapters', {
    method: 'POST',
    body: JSON.stringify({ name, baseUrl, headers })
  });
  return data.adapter;
}

/**
 * Browser-side Atlas fetch: `atlasProxyFetch("/v1/apis/http/pagerduty/incidents")` sent to
 * the Jupyter server, which adds the adapter's secrets. Mirrors the Python API's first
 * argument and JavaScript's fetch `init`.
 */
export async function atlasProxyFetch(path: string, init: RequestInit = {}): Promise<Response> {
  if (!path.startsWith('/v1/apis/http/')) {
    throw new AtlasApiError(400, 'ATLAS_BadPathError', 'paths start with /v1/apis/http/<adapter>/');
  }
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'atlas-canvas') + path;
  return ServerConnection.makeRequest(url, init, settings);
}
