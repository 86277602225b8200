/**
 * The one rule for an account's email, shared by the portal's forms, `mb user add` (through
 * UserAdmin) and `portal.first_admin_email`. Not RFC 5322: enough to be a plausible address
 * and harmless wherever it is shown. Control characters (\p{Cc}: ESC, BEL, NUL…) and format
 * characters (\p{Cf}: bidi overrides such as U+202E, zero-width joiners) are refused: an
 * email is printed on terminals (`mb user list`) and in the audit log, where ESC drives the
 * terminal and a bidi override makes one address read as another.
 */
export const EMAIL_ADDRESS = /^[^\s@<>"'\p{Cc}\p{Cf}\p{Cs}]{1,64}@[^\s@<>"'\p{Cc}\p{Cf}\p{Cs}]{1,189}$/u;

export function isEmailAddress(value: string): boolean {
  return EMAIL_ADDRESS.test(value);
}
