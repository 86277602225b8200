import { describe, expect, it } from 'vitest';
import { unsupportedNode } from './node-support.js';

describe('unsupportedNode', () => {
  it('accepts the LTS lines of package.json engines (^22.19.0 || >=24)', () => {
    for (const version of ['22.19.0', '22.21.1', '24.0.0', '24.22.3', '25.1.0'])
      expect(unsupportedNode(version)).toBeUndefined();
  });

  it('refuses older and odd lines, saying which Node is needed and how to get one', () => {
    for (const version of ['20.20.2', '22.18.0', '23.11.0', '18.19.1']) {
      const refusal = unsupportedNode(version);
      expect(refusal).toContain(`Node.js ${version} is not supported`);
      expect(refusal).toContain('22.19 or later, or 24');
      expect(refusal).toContain('scripts/fetch-node.sh');
    }
  });

  it('passes this very Node (the one the tests run on)', () => {
    expect(unsupportedNode()).toBeUndefined();
  });
});
