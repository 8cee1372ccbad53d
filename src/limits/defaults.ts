/**
 * The memory and table caps when the policy names none, in a module of their own so that the
 * host side of an instance (which names them in its `limit_exceeded` records) need not load the
 * instrumenter to know them.
 */

/** Linear memory cap when the policy names none: 1 GiB. */
export const DEFAULT_MAX_MEMORY = 1024 * 1024 * 1024;

/** Table cap (elements) for every defined table. */
export const DEFAULT_MAX_TABLE_ELEMENTS = 1_000_000;
