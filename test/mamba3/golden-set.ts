/** The Mamba-3 fixture set (tools/make_mamba3_goldens.py → test/fixtures/mamba3) for runGoldenSuite. */
import type { GoldenSet } from '../helpers/golden-suite.js';
import { MAMBA3_GOLDEN_DIR } from '../helpers/goldens.js';

export const MAMBA3_GOLDENS: GoldenSet = {
  dir: MAMBA3_GOLDEN_DIR, title: 'Mamba-3 goldens from state-spaces/mamba reference recurrences', archs: ['mamba3'], minCases: 5,
  script: 'tools/make_mamba3_goldens.py',
};
