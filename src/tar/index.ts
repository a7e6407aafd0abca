export { TarReader, type TarReaderHandlers, type TarReaderOptions } from './reader.js';
export { TarWriter } from './writer.js';
export { entryTypeOf, typeflagOf, isHeaderOnlyType, type TarEntry, type TarEntryType } from './entry.js';
export { parseHeader, isZeroBlock, looksLikeTarStart, verifyChecksum, type TarHeader, type TarHeaderFormat } from './header.js';
export { parsePaxRecords, encodePaxRecords } from './pax.js';
export { checkSafePath, isSafePath } from './path-safety.js';
export { isWhiteoutName, isOpaqueWhiteoutName } from './whiteout.js';
export { encodeHeader, type TarHeaderFields } from './encode-header.js';
export { readTar, writeTar, type TarItem, type TarArchive } from './archive.js';
