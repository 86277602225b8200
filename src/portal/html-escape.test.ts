import { describe, expect, it } from 'vitest';
import { escapeHtml } from './html-escape.js';

describe('the portal escaping', () => {
  it('escapes the HTML specials as Eta does', () => {
    expect(escapeHtml(`<script>alert("x" & 'y')</script>`)).toBe(
      '&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;',
    );
    expect(escapeHtml(42)).toBe('42');
    expect(escapeHtml('grüße 🙂')).toBe('grüße 🙂');
  });

  it('shows control characters as their pictures, keeping tab and line breaks', () => {
    expect(escapeHtml('a\u0000b\u001bc\u007fd')).toBe('a␀b␛c␡d');
    expect(escapeHtml('line\r\nnext\ttab')).toBe('line\r\nnext\ttab');
    expect(escapeHtml('\u0001\u0008\u000b\u000c\u000e\u001f')).toBe('␁␈␋␌␎␟');
  });

  it('gives the same answer on every call (no regex state carried over)', () => {
    for (let i = 0; i < 3; i++) expect(escapeHtml('x\u0000<')).toBe('x␀&lt;');
  });
});
