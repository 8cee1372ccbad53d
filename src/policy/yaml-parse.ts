/**
 * Parsing YAML without letting its nesting reach the host's stack.
 *
 * The `yaml` package reads text in two steps: a parser that turns it into a syntax tree
 * (iterative, linear in the text) and a composer that turns that tree into nodes (recursive,
 * several stack frames per level). A few hundred levels of `[`, `{`, `- ` or `? ` are enough
 * for the composer to bring the stack close to its limit, and when V8 then compiles one of the
 * package's regular expressions there it does not throw a `RangeError`: it aborts the process
 * ("RegExpCompiler Allocation failed"), which no `catch` can stop. So we run the two steps
 * ourselves and measure the syntax tree's depth, without recursion, in between: text nested
 * deeper than {@link MAX_SYNTAX_DEPTH} never reaches the composer.
 *
 * @example
 * ```ts
 * const { doc } = parseYamlBounded('a: [1, 2]\n', { version: '1.2' });
 * ```
 */
import { Composer, LineCounter, Parser, type CST, type Document, type DocumentOptions, type ParseOptions, type SchemaOptions } from 'yaml';

/**
 * How deep the syntax tree may nest. Real policies and indicator files nest a handful of
 * levels; the composer stays far from the stack limit at this depth (it aborted at about 700
 * on Node 20's default stack).
 */
export const MAX_SYNTAX_DEPTH = 64;

/** The text nests deeper than {@link MAX_SYNTAX_DEPTH}; `line`/`col` (1-based) locate the first token beyond it. */
export class YamlNestingError extends Error {
  constructor(
    readonly line: number,
    readonly col: number,
  ) {
    super(`nested more than ${MAX_SYNTAX_DEPTH} levels deep ("[", "{", "- ", "? " or indentation); a real file needs only a few — check for unbalanced "[" or "{"`);
  }
}

export interface BoundedYaml {
  /** The first document of the text (an empty one for empty text). */
  doc: Document.Parsed;
  /** The offset where a second document starts, when the text holds more than one. */
  secondDocumentAt?: number;
  /** 1-based line and column of an offset in the text. */
  position(offset: number): { line: number; col: number };
}

/**
 * Parse the first YAML document of `text`, refusing excessive nesting before composing it.
 *
 * @throws YamlNestingError when the syntax tree nests deeper than {@link MAX_SYNTAX_DEPTH}
 * @example
 * ```ts
 * parseYamlBounded('['.repeat(100_000), {}); // throws YamlNestingError, line 1, column 65
 * ```
 */
export function parseYamlBounded(text: string, options: ParseOptions & DocumentOptions & SchemaOptions): BoundedYaml {
  const lines = new LineCounter();
  const tokens = [...new Parser(lines.addNewLine).parse(text)];
  const position = (offset: number) => lines.linePos(offset);
  const deep = firstTokenBeyond(tokens, MAX_SYNTAX_DEPTH);
  if (deep !== undefined) {
    const { line, col } = position(deep.offset);
    throw new YamlNestingError(line, col);
  }
  let doc: Document.Parsed | undefined;
  let secondDocumentAt: number | undefined;
  // The composer makes an Error per problem it finds: tens of thousands in hostile text (a
  // 55 KB policy made 43,000), and capturing each one's stack trace was 85% of the time. Their
  // stacks are never shown (the problems become PolicyErrors), so none are captured.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    for (const next of new Composer(options).compose(tokens, true, text.length)) {
      if (doc === undefined) doc = next;
      else {
        secondDocumentAt = next.range[0];
        break;
      }
    }
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  // compose(…, forceDoc = true) always yields at least one document.
  if (doc === undefined) throw new Error('the YAML composer produced no document');
  return { doc, position, ...(secondDocumentAt === undefined ? {} : { secondDocumentAt }) };
}

/**
 * The first collection (depth-first) that makes more than `max` levels, found with an explicit
 * stack: `depth` counts the collections around a token (a document adds none).
 */
function firstTokenBeyond(tokens: readonly CST.Token[], max: number): CST.Token | undefined {
  const stack: Array<[CST.Token, number]> = tokens.map((t) => [t, 0]);
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [token, depth] = top;
    // Only documents and collections hold tokens; everything else (scalars, comments,
    // indicators in `start`/`sep`) is a leaf.
    if ('items' in token) {
      if (depth >= max) return token;
      for (const item of token.items) for (const child of [item.key, item.value]) if (child) stack.push([child, depth + 1]);
    } else if (token.type === 'document' && token.value) {
      stack.push([token.value, depth]);
    }
  }
  return undefined;
}
