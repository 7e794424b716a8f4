/**
 * Use cases behind `virtlab image build` and `virtlab image show`: the built-in guest image.
 */
import type {Context} from './context.js'
import {
  buildImage,
  builtinImagePaths,
  type BuildImageOptions,
  type ImageManifest,
  type ImagePaths,
  readImageManifest,
} from '../guest/image.js'

export interface ImageBuildResult {
  built: boolean
  key: string
  kernel: string
  initrd: string
  entry: string
  manifest: ImageManifest
}

export async function buildGuestImage(ctx: Context, options: BuildImageOptions = {}): Promise<ImageBuildResult> {
  const result = await buildImage(ctx, options)
  return {
    built: result.built,
    key: result.manifest.key,
    kernel: result.current.kernel,
    initrd: result.current.initrd,
    entry: result.entry.dir,
    manifest: result.manifest,
  }
}

export interface ImageShowResult {
  present: boolean
  paths: ImagePaths
  /** Where the stable pointer leads (builtin-<key>), when it is a symlink. */
  target: string | undefined
  manifest: ImageManifest | undefined
}

export async function showGuestImage(ctx: Context): Promise<ImageShowResult> {
  const paths = builtinImagePaths(ctx.target.stateDir)
  const manifest = await readImageManifest(ctx)
  const present = manifest !== undefined && (await ctx.target.fs.exists(paths.kernel)) && (await ctx.target.fs.exists(paths.initrd))
  return {present, paths, target: await ctx.target.fs.readlink(paths.dir), manifest}
}
