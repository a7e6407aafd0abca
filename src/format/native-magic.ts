/** First bytes of a native rolldelta delta: "rdlt". */
export const NATIVE_DELTA_MAGIC: Uint8Array = Uint8Array.of(0x72, 0x64, 0x6c, 0x74);

/** First bytes of a native rolldelta signature: "rdsg". */
export const NATIVE_SIGNATURE_MAGIC: Uint8Array = Uint8Array.of(0x72, 0x64, 0x73, 0x67);

/** First bytes of a rolldelta image delta: "rdim" (its version follows; src/image reads the rest). */
export const NATIVE_IMAGE_DELTA_MAGIC: Uint8Array = Uint8Array.of(0x72, 0x64, 0x69, 0x6d);

/** The one version of both native formats this build reads and writes; it follows the magic. */
export const NATIVE_VERSION = 1;
