// Literals for get_all_records_where expressions (xapi's db_filter grammar). A value goes in only
// through quoteLiteral, so no value can end the string and add a clause of its own.

/** `"value"` with backslash and double quote escaped, as xapi's db_filter lexer reads them. */
export function quoteLiteral(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}
