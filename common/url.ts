/**
 * URLs users give for snapshot endpoints (publisher, resolver receivers): http
 * or https only, and a URL without a path gets the endpoint's path, so
 * `http://10.0.3.7:9254` means `http://10.0.3.7:9254/v1/snapshot`.
 */

/** The generation an ETag such as `"42"` (or weak `W/"42"`) names, or undefined. */
export function etagGeneration(etag: string | null | undefined): number | undefined {
  const m = /^(?:W\/)?"(\d+)"$/.exec(etag ?? '');
  return m ? Number(m[1]) : undefined;
}

/** The normalised href of `text`, or a message saying why it is not usable (for config errors). */
export function snapshotEndpoint(text: string, example: string): { readonly href: string } | { readonly error: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { error: `'${text}' is not a URL (e.g. ${example})` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { error: `'${text}' is not an http or https URL` };
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1/snapshot';
  return { href: url.href };
}
