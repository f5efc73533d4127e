// JSON for terminals and log files: JSON.stringify escapes the C0 controls but leaves DEL, the C1
// controls (0x9b is a one-byte CSI on some terminals) and the Unicode line separators as they are.
// Escaping those too keeps every line one line and inert, and is still valid JSON.
export function safeJson(value: unknown, replacer?: (key: string, value: unknown) => unknown): string {
  return JSON.stringify(value, replacer).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
