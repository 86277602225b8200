/**
 * The portal's output escaping (Eta's `escapeFunction`): the five HTML specials as Eta
 * escapes them, and every C0 control character but tab, line feed and carriage return,
 * and DEL, shown as its Unicode control picture (U+2400–U+2421: "␀", "␛", …).
 *
 * A message body or a metadata value is the client's text: the API takes a NUL or an
 * escape character in it (it is stored and delivered as sent), but in a page it is a
 * parse error the browser drops or replaces silently, so an admin would read a body that
 * differs from what was sent without a sign of it. Shown as a picture, it is visible.
 */
const HTML_SPECIALS: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what it looks for.
const ESCAPED = /[&<>"'\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

function replacement(char: string): string {
  const special = HTML_SPECIALS[char];
  if (special) return special;
  const code = char.charCodeAt(0);
  return String.fromCharCode(code === 0x7f ? 0x2421 : 0x2400 + code);
}

export function escapeHtml(value: unknown): string {
  const text = String(value);
  ESCAPED.lastIndex = 0;
  return ESCAPED.test(text) ? text.replace(ESCAPED, replacement) : text;
}
