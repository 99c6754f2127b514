/**
 * Remote model sources as strings: `hf:owner/name[@revision]` (a Hugging Face Hub repo) and
 * `https://…/folder/` (any server with the files side by side). Only these two forms reach the
 * network: a bare `owner/name` stays a local path, so a typo in a path never turns into a download.
 *
 * Hub files resolve as `{endpoint}/{repo}/resolve/{revision}/{file}`, the layout huggingface_hub
 * uses (file_download.py hf_hub_url: the revision is quoted whole, '/' included, so branch
 * names like `refs/pr/1` work).
 */
import { fail } from '../../errors.js';

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_REVISION = 'main';

export interface RemoteLocation {
  /** The folder's URL, ending in '/'; file names are joined onto it. */
  base: string;
  /** For messages: the base URL without its trailing '/'. */
  label: string;
  /** `hf:owner/name@revision` for Hub sources, else the URL. */
  display: string;
}

/** True for the strings loadModel fetches: `hf:…`, `http://…`, `https://…`. */
export function isRemoteSource(source: string): boolean {
  return /^hf:/i.test(source) || /^https?:\/\//i.test(source);
}

// Hub repo ids: one or two segments of letters, digits, '-', '_', '.' (huggingface_hub validate_repo_id).
const REPO_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

export function parseRemoteSource(source: string, opts: { revision?: string; endpoint?: string } = {}): RemoteLocation {
  if (/^hf:/i.test(source)) return parseHub(source, opts);
  for (const field of ['revision', 'endpoint'] as const) {
    if (opts[field] !== undefined) {
      throw fail('E_ARGUMENT', `loadModel("${source}"): the ${field} option applies to hf: sources only; a URL names its server and revision itself`, { field });
    }
  }
  let url: URL;
  try {
    url = new URL(source);
  } catch (e) {
    throw fail('E_ARGUMENT', `loadModel("${source}"): not a valid URL`, { cause: e });
  }
  checkUrl(url, source);
  if (!url.pathname.endsWith('/')) url.pathname += '/'; // a folder: files are joined onto it
  const base = url.href;
  return { base, label: base.slice(0, -1), display: base };
}

function parseHub(source: string, opts: { revision?: string; endpoint?: string }): RemoteLocation {
  const spec = source.slice(3);
  const at = spec.indexOf('@');
  const repo = at < 0 ? spec : spec.slice(0, at);
  const inline = at < 0 ? undefined : spec.slice(at + 1);
  if (!REPO_ID.test(repo) || repo.includes('..')) {
    throw fail('E_ARGUMENT', `loadModel("${source}"): expected hf:owner/name or hf:owner/name@revision, with a repo id of letters, digits, '-', '_' and '.'`);
  }
  if (inline === '') throw fail('E_ARGUMENT', `loadModel("${source}"): empty revision after '@'`, { field: 'revision' });
  if (opts.revision !== undefined && (typeof opts.revision !== 'string' || opts.revision === '')) {
    throw fail('E_ARGUMENT', `revision must be a non-empty string (a branch, tag or commit), got ${JSON.stringify(opts.revision)}`, { field: 'revision' });
  }
  if (inline !== undefined && opts.revision !== undefined && inline !== opts.revision) {
    throw fail('E_ARGUMENT', `loadModel("${source}"): the source says revision "${inline}" but the revision option says "${opts.revision}"`, { field: 'revision' });
  }
  const revision = inline ?? opts.revision ?? DEFAULT_REVISION;
  const endpointText = opts.endpoint ?? DEFAULT_HF_ENDPOINT;
  let endpoint: URL;
  try {
    endpoint = new URL(endpointText);
  } catch (e) {
    throw fail('E_ARGUMENT', `endpoint ${JSON.stringify(endpointText)} is not a valid URL`, { field: 'endpoint', cause: e });
  }
  checkUrl(endpoint, endpointText, 'endpoint');
  const root = endpoint.href.endsWith('/') ? endpoint.href : `${endpoint.href}/`;
  const base = `${root}${repo}/resolve/${encodeURIComponent(revision)}/`;
  return { base, label: base.slice(0, -1), display: `hf:${repo}@${revision}` };
}

function checkUrl(url: URL, text: string, field?: string): void {
  const where = field ? `${field} ${JSON.stringify(text)}` : `loadModel("${text}")`;
  const details = field ? { field } : {};
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw fail('E_ARGUMENT', `${where}: only http: and https: URLs are fetched`, details);
  if (url.username || url.password) {
    throw fail('E_ARGUMENT', `${where}: credentials in the URL are not sent; pass them in the headers option instead`, details);
  }
  if (url.search || url.hash) throw fail('E_ARGUMENT', `${where}: a model folder URL cannot carry a query or fragment`, details);
}

/**
 * The URL of one file of the folder. Names may come from an untrusted index (shard names),
 * so they must stay inside the folder: relative, no '.'/'..' segments, no query or fragment.
 */
export function fileUrl(loc: RemoteLocation, name: string): string {
  const segments = typeof name === 'string' ? name.split('/') : [];
  const bad =
    typeof name !== 'string' || name === '' || /[\\?#\0-\x1f]/.test(name) || /^[a-zA-Z]:/.test(name) ||
    segments.some((s) => s === '' || s === '.' || s === '..');
  if (bad) {
    throw fail('E_ARGUMENT', `${loc.label}: file name ${JSON.stringify(name)} is not a relative path inside the model folder`, { file: String(name) });
  }
  return loc.base + segments.map(encodeURIComponent).join('/');
}
