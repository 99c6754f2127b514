/**
 * The generated text, kept for `finished.text`. Not `text += piece`: V8 keeps such a string as a
 * rope (a ConsString node of ~32 bytes per piece) until something flattens it, so a million-token
 * generation held ~32 MB for ~1 MB of text (found by the soak, `npm run soak`: the heap grew
 * ~40 bytes per token). Pieces are joined every 4096 into one flat string instead: ~1 byte a char.
 */
export class TextBuffer {
  private parts: string[] = [];
  add(piece: string): void {
    if (piece === '') return;
    this.parts.push(piece);
    if (this.parts.length >= 4096) this.parts = [this.parts.join('')];
  }
  toString(): string {
    if (this.parts.length > 1) this.parts = [this.parts.join('')];
    return this.parts[0] ?? '';
  }
}
