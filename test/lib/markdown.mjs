// Reading the documents the tests execute (docs/*.md, README.md): fenced code blocks with
// their info string and the heading they are under, and the rows of a table.

// Every fenced block, in order: { lang, attrs: {file: ...}, info, body, line, heading }.
// Fences may be indented (inside a list item); the indentation is removed from the body.
export function fencedBlocks(text) {
  const lines = text.split('\n');
  const blocks = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const h = lines[i].match(/^(#{1,6})\s+(.*)$/);
    if (h) { heading = h[2].trim(); continue; }
    const open = lines[i].match(/^(\s*)(`{3,})(.*)$/);
    if (!open) continue;
    const [, indent, fence, infoRaw] = open;
    const info = infoRaw.trim();
    const [lang = '', ...rest] = info.split(/\s+/).filter(Boolean);
    const attrs = {};
    const words = [];
    for (const w of rest) {
      const kv = w.match(/^([a-z]+)=(.*)$/);
      if (kv) attrs[kv[1]] = kv[2];
      else words.push(w);
    }
    const body = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      if (lines[j].startsWith(indent + fence) && lines[j].trim() === fence) break;
      body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j]);
    }
    if (j >= lines.length) throw new Error(`unclosed code fence at line ${i + 1}`);
    blocks.push({ lang, words, attrs, info, body: body.join('\n'), line: i + 1, heading });
    i = j;
  }
  return blocks;
}

// The rows of the first table after the heading matching headingRe, as arrays of cell texts.
export function tableRows(text, headingRe) {
  const lines = text.split('\n');
  let i = lines.findIndex((l) => /^#{1,6}\s/.test(l) && headingRe.test(l));
  if (i < 0) throw new Error(`no heading ${headingRe}`);
  while (i < lines.length && !lines[i].startsWith('|')) i++;
  const rows = [];
  for (; i < lines.length && lines[i].startsWith('|'); i++) {
    const cells = lines[i].replace(/^\|/, '').replace(/\|\s*$/, '').split(/(?<!\\)\|/).map((c) => c.trim());
    if (cells.every((c) => /^:?-+:?$/.test(c))) continue;
    rows.push(cells);
  }
  return rows.slice(1);   // without the header row
}
