const PREFIX = '.wh.';
const OPAQUE = '.wh..wh..opq';

function basename(name: string): string {
  let end = name.length;
  while (end > 0 && name.charCodeAt(end - 1) === 0x2f) end--; // ignore trailing slashes
  const slash = name.lastIndexOf('/', end - 1);
  return name.slice(slash + 1, end);
}

/**
 * True when the entry deletes a lower-layer path: its basename starts with `.wh.` (OCI/Docker
 * whiteouts; the opaque marker `.wh..wh..opq` included).
 * @example
 * isWhiteoutName('etc/.wh.motd'); // true
 */
export function isWhiteoutName(name: string): boolean {
  return basename(name).startsWith(PREFIX);
}

/**
 * True when the entry marks its directory opaque (basename `.wh..wh..opq`).
 * @example
 * isOpaqueWhiteoutName('var/cache/.wh..wh..opq'); // true
 */
export function isOpaqueWhiteoutName(name: string): boolean {
  return basename(name) === OPAQUE;
}
