/**
 * The one DOM helper of the extension: an element with a class and text.
 *
 * Text is always set with `textContent` (never `innerHTML`): what the extension shows comes
 * from the server or from PagerDuty and is data, not markup.
 */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}
