/** Where the attention / hybrid goldens live (tools/make_hybrid_goldens.py writes them). */
export const HYBRID_DIR = new URL('../fixtures/hybrid/', import.meta.url).pathname;
export const HYBRID = { dir: HYBRID_DIR, title: 'goldens from transformers (attention and hybrids)', archs: ['llama', 'bamba', 'nemotron_h', 'jamba'], minCases: 5, script: 'tools/make_hybrid_goldens.py' };
