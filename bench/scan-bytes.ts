/**
 * The least a prefill scan must move — each input read once, y written once — and its share of a large
 * buffer copy's bandwidth, for bench/cuda.ts and bench/webgpu.ts (one count, so the two backends' rows agree).
 *
 * Issues 5 and 9 set the scans against "a large buffer copy's read bandwidth (bytes read per second)", the
 * same measure their decode rooflines divide by the weight bytes. Two shares are printed:
 * - `read`: the scan's bytes read per second ÷ the copy's bytes read per second — the issues' measure, like
 *   against like. A scan reads three to four bytes for each it writes while a copy reads one, so on a bus
 *   shared by reads and writes this share can pass 100 %.
 * - `moved`: bytes read + written per second ÷ the copy's read + written — the stricter share, the only one
 *   BENCHMARKS.md reported before 2026-12-07. Both run against the same timings; neither is rounded up.
 *
 * Small operands (dtBias, A, D, the carried state) are not counted: < 0.1 % at the shapes benchmarked.
 */
export interface ScanBytes {
  read: number;
  written: number;
}

/** Mamba-1 selective scan on [B, T, I] × N: x, dt, z [B, T, I] and B, C [B, T, N] read; y [B, T, I] written. */
export function mamba1ScanBytes(T: number, I: number, N: number, batch = 1): ScanBytes {
  return { read: 4 * batch * (3 * T * I + 2 * T * N), written: 4 * batch * T * I };
}

/** Mamba-2 SSD scan on [B, T, H × P] × N with G groups: x, dt, B, C read; y [B, T, H × P] written. */
export function ssdScanBytes(T: number, H: number, P: number, G: number, N: number, batch = 1): ScanBytes {
  return { read: 4 * batch * (T * H * P + T * H + 2 * T * G * N), written: 4 * batch * T * H * P };
}

export const movedBytes = (b: ScanBytes): number => b.read + b.written;

/** Bytes read and bytes read + written per second (GB/s): a scan's, or a copy's (whose read rate is half its moved rate). */
export interface Rates {
  readGBs: number;
  movedGBs: number;
}
export type CopyRate = Rates;

export interface Shares {
  /** % of the copy's read bandwidth, bytes read against bytes read (issues 5 and 9's measure). */
  readPercent: number;
  /** % of the copy's bytes moved per second, read + written against read + written. */
  movedPercent: number;
}
export type ScanShare = Rates & Shares;

export function scanRates(bytes: ScanBytes, seconds: number): Rates {
  if (!(seconds > 0)) throw new RangeError(`scanRates: seconds must be > 0, got ${seconds}`);
  return { readGBs: bytes.read / seconds / 1e9, movedGBs: movedBytes(bytes) / seconds / 1e9 };
}

/** The two shares of rates measured already (bench/webgpu.ts's rows, a report's JSON). */
export function shareOfRates(scan: Rates, copy: CopyRate): Shares {
  if (!(copy.readGBs > 0 && copy.movedGBs > 0)) throw new RangeError(`shareOfRates: the copy's rates must be > 0, got ${JSON.stringify(copy)}`);
  return { readPercent: (100 * scan.readGBs) / copy.readGBs, movedPercent: (100 * scan.movedGBs) / copy.movedGBs };
}

export function scanShareOfCopy(bytes: ScanBytes, seconds: number, copy: CopyRate): ScanShare {
  const rates = scanRates(bytes, seconds);
  return { ...rates, ...shareOfRates(rates, copy) };
}

/** "62.1 % of the copy's read bandwidth (bytes read), 41.3 % of its bytes moved" */
export function describeShare(s: Shares): string {
  return `${s.readPercent.toFixed(1)} % of the copy's read bandwidth (bytes read), ${s.movedPercent.toFixed(1)} % of its bytes moved`;
}
