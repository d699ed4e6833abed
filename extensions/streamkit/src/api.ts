/**
 * Calls to the kit's Jupyter Server extension (`/kit/api/...`).
 *
 * `ServerConnection.makeRequest` adds Jupyter's token and XSRF header, so
 * every call passes the server's authentication like the rest of JupyterLab.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** A failed call, with the server's own message when it gave one. */
export class KitApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: Record<string, unknown> | null = null
  ) {
    super(message);
  }
}

/** GET or POST `/kit/api/<path>` and return the JSON answer. */
export async function requestAPI<T>(
  path: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, 'kit', 'api', path);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new KitApiError(
      `The Jupyter server did not answer: ${String(error)}`,
      0
    );
  }
  const text = await response.text();
  let body: Record<string, unknown> | null = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (!response.ok) {
    const message =
      (body && (body.error ?? body.message ?? body.reason)) ||
      `${response.status} ${response.statusText}`;
    throw new KitApiError(String(message), response.status, body);
  }
  return body as T;
}
