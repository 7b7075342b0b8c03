/**
 * PostgreSQL's refusals of a value a request carried (a NUL byte, text that is not valid for its
 * type, a number or date out of range, a string too long for its column, a value too large to
 * index): bad input, answered invalid_request, never a fault (500).
 */
const REJECTED_VALUE_CODES: ReadonlySet<string> = new Set([
  '22001', // string data right truncation
  '22003', // numeric value out of range
  '22007', // invalid datetime format
  '22008', // datetime field overflow
  '22021', // character not in repertoire (e.g. NUL)
  '22P02', // invalid text representation
  '22P05', // untranslatable character
  '54000', // program limit exceeded (e.g. an index row too large)
]);

export function isRejectedValue(error: unknown): boolean {
  const code = error && typeof error === 'object' ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && REJECTED_VALUE_CODES.has(code);
}
