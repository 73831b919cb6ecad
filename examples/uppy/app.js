// Uppy's Dashboard uploading to a tusport endpoint over tus: drag and drop, progress, pause and
// resume, retries, errors. With `?mode=form` (on an endpoint with `form` enabled) it posts each
// file as a classic multipart form through XHRUpload instead: no resume, one request per file. `tusport serve --demo` serves this file beside index.html, the Uppy
// bundle and a config.json naming the endpoint; README.md here shows how to use the same code in
// your own app (there `import ... from 'uppy'` comes from your bundler instead of the import map).
import { Dashboard, Tus, Uppy, XHRUpload } from 'uppy';

/**
 * From tusport (see src/demo/plugin.ts): `{ endpoint, params, auth, accept, maxSize, chunkSize }`.
 * In your own app you would write these values here.
 */
const config = await fetch('./config.json', { cache: 'no-cache' }).then((response) => response.json());

// Delays (ms) before each retry of a failed request. tus resumes from the offset the server
// reports, so a retry loses nothing already stored. Uppy's default ([100, 1000, 3000, 5000], about
// 9 s in all) gives up during a slow server restart or a short network drop; this rides out about
// two minutes. The count restarts whenever an attempt makes progress.
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10_000, 20_000, 30_000, 60_000];

const byId = (id) => document.getElementById(id);
// Form mode: only where the endpoint takes forms (`form: true`).
const formMode = config.form === true && new URLSearchParams(window.location.search).get('mode') === 'form';
const settings = byId('settings');
settings.addEventListener('submit', (event) => event.preventDefault());

/** An input in the settings form; `onInput` gets its trimmed value. */
function field(label, attributes, onInput) {
  const wrapper = document.createElement('label');
  wrapper.textContent = label;
  const input = Object.assign(document.createElement('input'), attributes);
  input.addEventListener('input', () => onInput(input.value.trim()));
  wrapper.append(input);
  settings.append(wrapper);
  settings.hidden = false;
  return input;
}

// A templated endpoint (`/users/{username}/uploads`) needs a value for each param.
const params = Object.fromEntries(config.params.map((name) => [name, '']));
for (const name of config.params) {
  field(`{${name}}`, { name, required: true, autocomplete: 'off' }, (value) => {
    params[name] = value;
    showTarget();
  });
}

// Endpoints with auth: the bearer token lives in this variable only (not in storage, not in the URL).
let token = '';
if (config.auth !== 'none') {
  field('Bearer token', { name: 'token', type: 'password', autocomplete: 'off', placeholder: 'paste a token' }, (value) => {
    token = value;
  });
}

function endpointUrl() {
  const path = config.endpoint.replace(/\{(\w+)\}/g, (whole, name) => (params[name] ? encodeURIComponent(params[name]) : whole));
  return new URL(path, window.location.href).href;
}

/** The params still empty, as `{name}`. */
const missingParams = () => config.params.filter((name) => !params[name]).map((name) => `{${name}}`);

function describeLimits() {
  const parts = [];
  if (config.accept) parts.push(`accepts ${config.accept.join(', ')}`);
  if (config.maxSize) parts.push(`up to ${formatBytes(config.maxSize)} a file`);
  if (config.chunkSize) parts.push(`sent in chunks of ${formatBytes(config.chunkSize)}`);
  if (config.auth !== 'none') parts.push(`needs a token (${config.auth})`);
  return parts;
}

function showTarget() {
  const target = byId('target');
  const code = document.createElement('code');
  // A URL encodes the braces of a param not filled in yet: show it as the template does.
  code.textContent = endpointUrl().replace(/%7B(\w+)%7D/g, '{$1}');
  target.replaceChildren(formMode ? 'Uploading as multipart forms to ' : 'Uploading with tus to ', code, ...describeLimits().map((part) => ` · ${part}`));
}

function formatBytes(bytes) {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}

/** Add a line to a list section (text only: file names and server messages are not HTML). */
function report(listId, ...content) {
  const item = document.createElement('li');
  item.append(...content);
  byId(listId).append(item);
  byId(`${listId}-section`).hidden = false;
}

/** What the server said: tusport's errors are JSON `{ statusCode, code, message }`. */
function serverMessage(response) {
  const text = response?.body?.xhr?.responseText ?? '';
  try {
    const body = JSON.parse(text);
    if (body.message) return body.code ? `${body.message} (${body.code})` : body.message;
  } catch {
    // not JSON: @tus/server's own errors are plain text
  }
  return text.slice(0, 500);
}

const uppy = new Uppy({
  // The same rules the endpoint enforces, checked before anything is sent. The server checks
  // again (and sniffs the bytes when the upload finishes), so this is a convenience only.
  restrictions: { allowedFileTypes: config.accept, maxFileSize: config.maxSize },
  onBeforeUpload: () => {
    const missing = missingParams();
    if (missing.length > 0) uppy.info(`Fill in ${missing.join(', ')} first`, 'error', 5000);
    return missing.length === 0;
  },
})
  .use(Dashboard, {
    inline: true,
    target: '#uppy',
    width: '100%',
    height: 420,
    showProgressDetails: true,
    proudlyDisplayPoweredByUppy: false,
    note: describeLimits().join(' · ') || null,
  });

const authHeaders = () => (token ? { Authorization: `Bearer ${token}` } : {});
if (formMode) {
  // tusport answers a form POST with JSON whose `url` is the stored file's upload URL: XHRUpload
  // takes it as is (no getResponseData needed). Its other fields (name, size, type) go as metadata.
  uppy.use(XHRUpload, { endpoint: endpointUrl(), fieldName: 'file', formData: true, limit: 3, headers: authHeaders });
} else {
  uppy.use(Tus, {
    endpoint: endpointUrl(),
    // Uppy must not send a PATCH larger than the endpoint's maxChunkSize (413 otherwise).
    chunkSize: config.chunkSize ?? Number.POSITIVE_INFINITY,
    retryDelays: RETRY_DELAYS,
    // A file uploaded again is a new upload (instead of "resuming" the finished one).
    removeFingerprintOnSuccess: true,
    headers: authHeaders,
  });
}

// The endpoint follows the {param} fields as they are when each file's upload starts, retries
// included (Uppy runs preprocessors for a retry, but not onBeforeUpload): a file refused for the
// wrong {username} goes to the corrected URL when retried. (A file that already has an upload
// URL resumes there; the endpoint only matters for creating one.)
uppy.addPreProcessor((fileIDs) => {
  const missing = missingParams();
  if (missing.length > 0) {
    uppy.info(`Fill in ${missing.join(', ')} first`, 'error', 5000);
    throw new Error(`Fill in ${missing.join(', ')} first`);
  }
  const endpoint = endpointUrl();
  for (const id of fileIDs) {
    const file = uppy.getFile(id);
    uppy.setFileState(id, formMode ? { xhrUpload: { ...file.xhrUpload, endpoint } } : { tus: { ...file.tus, endpoint } });
  }
});

uppy.on('upload-error', (file, error, response) => {
  const detail = response?.status ? `${response.status} ${serverMessage(response) || error.message}` : error.message;
  report('errors', `${file?.name ?? 'upload'}: ${detail}`);
});
uppy.on('restriction-failed', (file, error) => report('errors', `${file?.name ?? 'file'}: ${error.message}`));
uppy.on('upload-success', (file, response) => {
  const link = Object.assign(document.createElement('a'), { href: response.uploadURL, textContent: response.uploadURL });
  report('done', `${file.name} → `, link);
});

showTarget();
// For debugging from the console (and for tests): the Uppy instance.
window.uppy = uppy;
