/** Where the committed C components live, relative to the repository root. */
export const PREBUILT_DIR: string;
/** The file name of the committed component built from `source` (relative to the repository root). */
export function prebuiltName(source: string): string;
/** sha256 of what a component built from `source` depends on besides the toolchain. */
export function sourceKey(root: string, source: string): string;
