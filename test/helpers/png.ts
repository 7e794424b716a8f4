/**
 * A small PNG decoder for tests (node:zlib inflate + the five scanline filters): 8-bit
 * greyscale, grey+alpha, RGB and RGBA, non-interlaced, which is what rsvg-convert and Chromium
 * write. Pixels come back as RGBA.
 */
import {inflateSync} from 'node:zlib'

export interface Image {
  width: number
  height: number
  /** RGBA, 4 bytes per pixel, row-major. */
  data: Uint8Array
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

export function decodePng(file: Buffer): Image {
  if (!file.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG')
  let offset = 8
  let width = 0
  let height = 0
  let colorType = 0
  let bitDepth = 0
  let interlace = 0
  const idat: Buffer[] = []
  while (offset < file.length) {
    const length = file.readUInt32BE(offset)
    const type = file.toString('latin1', offset + 4, offset + 8)
    const data = file.subarray(offset + 8, offset + 8 + length)
    if (type === 'IHDR') {
      width = data.readUInt32BE(0)
      height = data.readUInt32BE(4)
      bitDepth = data[8] ?? 0
      colorType = data[9] ?? 0
      interlace = data[12] ?? 0
    } else if (type === 'IDAT') {
      idat.push(data)
    } else if (type === 'IEND') {
      break
    }
    offset += 12 + length
  }
  const channels = {0: 1, 2: 3, 4: 2, 6: 4}[colorType]
  if (bitDepth !== 8 || channels === undefined || interlace !== 0) throw new Error(`unsupported PNG: depth ${bitDepth}, colour type ${colorType}, interlace ${interlace}`)
  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * channels
  const pixels = new Uint8Array(height * stride)
  for (let row = 0; row < height; row += 1) {
    const filter = raw[row * (stride + 1)] ?? 0
    const line = raw.subarray(row * (stride + 1) + 1, (row + 1) * (stride + 1))
    for (let i = 0; i < stride; i += 1) {
      const a = i >= channels ? (pixels[row * stride + i - channels] ?? 0) : 0
      const b = row > 0 ? (pixels[(row - 1) * stride + i] ?? 0) : 0
      const c = row > 0 && i >= channels ? (pixels[(row - 1) * stride + i - channels] ?? 0) : 0
      const x = line[i] ?? 0
      let value: number
      switch (filter) {
        case 0: value = x; break
        case 1: value = x + a; break
        case 2: value = x + b; break
        case 3: value = x + Math.floor((a + b) / 2); break
        case 4: {
          const p = a + b - c
          const pa = Math.abs(p - a)
          const pb = Math.abs(p - b)
          const pc = Math.abs(p - c)
          value = x + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)
          break
        }
        default: throw new Error(`bad PNG filter ${filter}`)
      }
      pixels[row * stride + i] = value & 0xff
    }
  }
  const rgba = new Uint8Array(width * height * 4)
  for (let p = 0; p < width * height; p += 1) {
    const s = p * channels
    const [r, g, b, alpha] = channels === 1 ? [pixels[s], pixels[s], pixels[s], 255]
      : channels === 2 ? [pixels[s], pixels[s], pixels[s], pixels[s + 1]]
        : channels === 3 ? [pixels[s], pixels[s + 1], pixels[s + 2], 255]
          : [pixels[s], pixels[s + 1], pixels[s + 2], pixels[s + 3]]
    rgba.set([r ?? 0, g ?? 0, b ?? 0, alpha ?? 0], p * 4)
  }
  return {width, height, data: rgba}
}

export function pixel(image: Image, x: number, y: number): [number, number, number, number] {
  const i = (y * image.width + x) * 4
  return [image.data[i] ?? 0, image.data[i + 1] ?? 0, image.data[i + 2] ?? 0, image.data[i + 3] ?? 0]
}

/** Opaque and (near) white. */
export function isBackground(image: Image, x: number, y: number, tolerance = 8): boolean {
  const [r, g, b, a] = pixel(image, x, y)
  return a >= 255 - tolerance && r >= 255 - tolerance && g >= 255 - tolerance && b >= 255 - tolerance
}
