import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backends/reference/index.js';
import type { Tensor } from '../../src/backends/backend.js';
import { describeShare, mamba1ScanBytes, movedBytes, scanShareOfCopy, ssdScanBytes } from '../../bench/scan-bytes.js';

// The benches' byte counts must be the bytes of the very tensors the scans take and return: checked
// here against the reference backend's ops at odd sizes and batch > 1, so a changed op signature or a
// miscounted operand shows up as a failure instead of a silently wrong "% of the copy".
const bytesOf = (...ts: Tensor[]) => ts.reduce((s, t) => s + 4 * t.shape.reduce((p, d) => p * d, 1), 0);

describe('bench/scan-bytes', () => {
  it("Mamba-1: x, dt, z, B, C read and y written, as selectiveScan's tensors", () => {
    const b = new ReferenceBackend();
    const Bn = 3, T = 7, I = 5, N = 3;
    const a = {
      x: b.zeros([Bn, T, I]), dt: b.zeros([Bn, T, I]), z: b.zeros([Bn, T, I]), B: b.zeros([Bn, T, N]), C: b.zeros([Bn, T, N]),
      dtBias: b.zeros([I]), A: b.zeros([I, N]), D: b.zeros([I]), state: b.zeros([Bn, I, N]),
    };
    const y = b.selectiveScan(a);
    expect(mamba1ScanBytes(T, I, N, Bn)).toEqual({ read: bytesOf(a.x, a.dt, a.z, a.B, a.C), written: bytesOf(y) });
  });

  it("Mamba-2 SSD: x, dt, B, C read and y written, as ssdChunkScan's tensors", () => {
    const b = new ReferenceBackend();
    const Bn = 2, T = 9, H = 3, P = 5, G = 3, N = 4;
    const a = {
      x: b.zeros([Bn, T, H * P]), dt: b.zeros([Bn, T, H]), B: b.zeros([Bn, T, G * N]), C: b.zeros([Bn, T, G * N]),
      dtBias: b.zeros([H]), A: b.zeros([H]), D: b.zeros([H]), state: b.zeros([Bn, H, P, N]),
      dtMin: 0, dtMax: Infinity, numHeads: H, headDim: P, nGroups: G, stateSize: N, chunkSize: 4,
    };
    const y = b.ssdChunkScan(a);
    expect(ssdScanBytes(T, H, P, G, N, Bn)).toEqual({ read: bytesOf(a.x, a.dt, a.B, a.C), written: bytesOf(y) });
  });

  it('the two shares: bytes read against a copy that reads half of what it moves', () => {
    // mamba-130m's width at 16k tokens: 304 MB read, 101 MB written; a copy moving 2,500 GB/s reads 1,250.
    const bytes = mamba1ScanBytes(16384, 1536, 16);
    const s = scanShareOfCopy(bytes, 0.4e-3, { movedGBs: 2500, readGBs: 1250 });
    expect(s.readGBs).toBeCloseTo(bytes.read / 0.4e-3 / 1e9, 6);
    expect(s.movedPercent).toBeCloseTo((100 * movedBytes(bytes)) / 0.4e-3 / 1e9 / 2500, 9);
    // reads are 3/4 of what this scan moves, so its read share is 2 · 3/4 = 1.5× its moved share (to the B, C rows)
    expect(s.readPercent / s.movedPercent).toBeCloseTo((2 * bytes.read) / movedBytes(bytes), 9);
    expect(s.readPercent / s.movedPercent).toBeGreaterThan(1.49);
    expect(describeShare(s)).toBe(`${s.readPercent.toFixed(1)} % of the copy's read bandwidth (bytes read), ${s.movedPercent.toFixed(1)} % of its bytes moved`);
  });

  it('refuses a zero time or a copy that was not measured', () => {
    const bytes = ssdScanBytes(64, 2, 4, 1, 8);
    expect(() => scanShareOfCopy(bytes, 0, { movedGBs: 1, readGBs: 0.5 })).toThrow(/seconds must be > 0/);
    expect(() => scanShareOfCopy(bytes, 1e-3, { movedGBs: 0, readGBs: 0 })).toThrow(/copy's rates must be > 0/);
  });
});
