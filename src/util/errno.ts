/** The `code` of a Node system error (`ENOENT`, `EEXIST`, …), or the error as text. */
export const errno = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? String(e);
