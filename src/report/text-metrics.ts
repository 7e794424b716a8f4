/**
 * Text measurement for the SVG chart, so its layout does not depend on a browser: the advance
 * widths of DejaVu Sans Book and Bold (the font the chart declares first; Debian's
 * fonts-dejavu-core, the default sans-serif of librsvg and Chromium on Debian), read from the
 * fonts' hmtx tables (units per em 2048, here in thousandths of an em) for printable ASCII
 * (U+0020..U+007E) and a few symbols. Other characters count as one em (wider than any glyph in
 * the table, so a box is never too small). Kerning is ignored (it only narrows text). A narrower
 * fallback font can only make text fit better.
 */

const BOOK = [
  318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636, 636, 636, 636, 636,
  636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656, 557, 863, 748, 787,
  603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635, 615, 352, 635,
  634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838,
]
const BOLD = [
  348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696, 696, 696, 696, 696, 696, 696,
  696, 696, 400, 400, 838, 838, 838, 580, 1000, 774, 762, 734, 830, 683, 683, 821, 837, 372, 372, 775, 637, 995, 837, 850,
  733, 850, 770, 720, 682, 812, 774, 1103, 771, 724, 725, 457, 365, 457, 838, 500, 500, 675, 716, 593, 716, 678, 435, 716,
  712, 343, 343, 665, 343, 1042, 712, 687, 716, 716, 493, 595, 478, 712, 652, 924, 645, 652, 582, 712, 365, 712, 838,
]
const SYMBOLS_BOOK: Record<string, number> = {'…': 1000, 'µ': 636, '×': 838, '–': 500, '—': 1000, '≤': 838, '≥': 838}
const SYMBOLS_BOLD: Record<string, number> = {'…': 1000, 'µ': 736, '×': 838, '–': 500, '—': 1000, '≤': 838, '≥': 838}

/** The font-family the chart declares; the metrics above are the first entry's. */
export const FONT_FAMILY = 'DejaVu Sans, Verdana, sans-serif'
/** hhea ascender / descender of DejaVu Sans, in em. */
export const ASCENT = 0.929
export const DESCENT = 0.236
/** Line advance for wrapped text, in em (more than ASCENT + DESCENT, so lines never touch). */
export const LINE_HEIGHT = 1.25

export interface Font {
  size: number
  bold?: boolean
}

/** The advance width of `text` in px at `font`. */
export function textWidth(text: string, font: Font): number {
  const table = font.bold ? BOLD : BOOK
  const symbols = font.bold ? SYMBOLS_BOLD : SYMBOLS_BOOK
  let units = 0
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0
    units += code >= 32 && code <= 126 ? (table[code - 32] ?? 1000) : (symbols[ch] ?? 1000)
  }
  return (units / 1000) * font.size
}

/** `text` cut to fit `maxWidth` with a trailing ellipsis (the whole text when it fits). */
export function abbreviate(text: string, maxWidth: number, font: Font): string {
  if (textWidth(text, font) <= maxWidth) return text
  const chars = [...text]
  while (chars.length > 0 && textWidth(`${chars.join('')}…`, font) > maxWidth) chars.pop()
  return chars.length === 0 ? '…' : `${chars.join('')}…`
}

/**
 * Greedy word wrap into lines no wider than `maxWidth`: breaks at spaces, and after a hyphen,
 * slash or underscore when a word alone is too wide; a piece still too wide is abbreviated.
 * At most `maxLines` lines (the last one abbreviated when text is left over).
 */
export function wrapText(text: string, maxWidth: number, font: Font, maxLines = Infinity): string[] {
  // Pieces of words; `join` marks a piece that continues the previous one's word (no space).
  const pieces: {text: string; join: boolean}[] = []
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (textWidth(word, font) <= maxWidth) {
      pieces.push({text: word, join: false})
      continue
    }
    // Split a long word after -, /, _ or . and glue the parts back while they fit.
    let current = ''
    let first = true
    for (const part of word.split(/(?<=[-/_.])/)) {
      if (current !== '' && textWidth(current + part, font) > maxWidth) {
        pieces.push({text: current, join: !first})
        first = false
        current = part
      } else {
        current += part
      }
    }
    if (current !== '') pieces.push({text: current, join: !first})
  }
  const lines: string[] = []
  let line = ''
  for (const piece of pieces) {
    const candidate = line === '' ? piece.text : piece.join ? `${line}${piece.text}` : `${line} ${piece.text}`
    if (line !== '' && textWidth(candidate, font) > maxWidth) {
      lines.push(line)
      line = piece.text
    } else {
      line = candidate
    }
  }
  if (line !== '') lines.push(line)
  if (lines.length > maxLines) {
    const kept = lines.slice(0, maxLines)
    kept[maxLines - 1] = abbreviate(`${kept[maxLines - 1] ?? ''} ${lines.slice(maxLines).join(' ')}`, maxWidth, font)
    return kept.map((l) => abbreviate(l, maxWidth, font))
  }
  return lines.map((l) => abbreviate(l, maxWidth, font))
}
