/** The `data:` payloads of a server-sent event stream, in order (one per event). */
export function parseSse(text: string): string[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n').filter((l) => l.startsWith('data: '));
      if (lines.length === 0) throw new Error(`not a data event: ${JSON.stringify(block.slice(0, 200))}`);
      return lines.map((l) => l.slice(6)).join('\n');
    });
}
