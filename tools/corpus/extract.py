#!/usr/bin/env python3
"""Extract English prose from installed Debian packages into a byte-level LM corpus.

Run by tools/gather_corpus.sh after it has installed the packages listed in
SOURCES below. Standard library only (plus pod/info/html parsing written here).

Output (default directory .carry/corpus/):
  train.txt     documents joined by a NUL byte (0x00, the model's eos/bos id)
  heldout.txt   same format; about 2% of documents, chosen by a hash of the
                document id (so the split is stable and spread over all sources)
  stats.json    per-source package, version, license, document and byte counts
and tools/corpus/SOURCES.md (the table of packages, versions, licenses, bytes).

A "document" is one natural unit of a source (a fortune cookie, a dictionary
entry, a Bible chapter, one manual page/file); documents over 24 KB are cut at
blank lines into pieces of at most ~24 KB, each piece its own document.

Normalisation: UTF-8 (sources that are not valid UTF-8 are read as Latin-1),
Unicode NFC, tabs expanded, CR and other control characters removed, NBSP and
other odd spaces made plain spaces, zero-width characters removed, lines with
box-drawing characters (tables) dropped, trailing spaces stripped, runs of
blank lines collapsed to one. Markup (HTML, POD, reStructuredText, AsciiDoc,
Info) is stripped; code blocks / verbatim blocks are dropped where the markup
marks them, to keep the text prose.

Dedup: exact duplicate documents (after whitespace/case folding) are dropped,
and any paragraph of 120+ bytes seen before (license boilerplate, repeated
notes, fortunes shared between fortunes and fortunes-min) is removed from
later documents.
"""
import argparse
import glob
import gzip
import hashlib
import html
import html.parser
import json
import os
import re
import subprocess
import sys
import unicodedata

# --------------------------------------------------------------------------
# reading and normalising


def read_bytes(path):
    with open(path, 'rb') as f:
        data = f.read()
    if path.endswith('.gz') or path.endswith('.dz'):
        data = gzip.decompress(data)
    return data


def decode(data):
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError:
        return data.decode('latin-1')


BOX = re.compile('[\u2500-\u259f]')
ODD_SPACE = re.compile('[\u00a0\u2000-\u200a\u202f\u205f\u3000]')
ZERO_WIDTH = re.compile('[\u200b-\u200d\u2060\ufeff\u00ad]')
CONTROL = re.compile('[\x00-\x08\x0b-\x1f\x7f-\x9f]')


def normalise(text):
    text = unicodedata.normalize('NFC', text)
    text = text.replace('\r\n', '\n').replace('\r', '\n')
    text = ODD_SPACE.sub(' ', text)
    text = ZERO_WIDTH.sub('', text)
    text = text.replace('\ufffd', '')
    lines = []
    for line in text.split('\n'):
        if BOX.search(line):
            continue
        line = line.expandtabs(8)
        line = CONTROL.sub('', line)
        lines.append(line.rstrip())
    text = '\n'.join(lines)
    text = re.sub(r'\n{3,}', '\n\n', text)
    return text.strip('\n')


# --------------------------------------------------------------------------
# markup strippers


class HTMLText(html.parser.HTMLParser):
    """HTML -> text. Drops head/script/style/nav and <pre> (code/commands)."""
    BLOCK = {'p', 'div', 'br', 'li', 'dt', 'dd', 'h1', 'h2', 'h3', 'h4', 'h5',
             'h6', 'tr', 'table', 'ul', 'ol', 'dl', 'blockquote', 'section',
             'article', 'hr', 'title', 'td', 'th', 'caption', 'figure'}
    SKIP = {'head', 'script', 'style', 'pre', 'nav', 'noscript', 'svg', 'button'}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip += 1
        a = dict(attrs)
        cls = a.get('class') or ''
        if tag == 'div' and any(c in cls for c in ('navheader', 'navfooter', 'toc', 'footer', 'sphinxsidebar', 'related')):
            # mark: skipped until matching end is hard without a tree; count divs
            self.skip += 1
            self._divskip = getattr(self, '_divskip', []) + [self._depth_div()]
        if tag == 'div':
            self._divdepth = getattr(self, '_divdepth', 0) + 1
        if tag in self.BLOCK:
            self.out.append('\n\n' if tag not in ('br', 'td', 'th') else '\n')

    def _depth_div(self):
        return getattr(self, '_divdepth', 0) + 1

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skip > 0:
            self.skip -= 1
        if tag == 'div':
            d = getattr(self, '_divdepth', 0)
            stack = getattr(self, '_divskip', [])
            if stack and stack[-1] == d:
                stack.pop()
                self.skip = max(0, self.skip - 1)
            self._divdepth = d - 1
        if tag in self.BLOCK:
            self.out.append('\n\n')

    def handle_data(self, data):
        if self.skip:
            return
        self.out.append(re.sub(r'\s+', ' ', data))

    def text(self):
        t = ''.join(self.out)
        t = re.sub(r' *\n *', '\n', t)
        t = re.sub(r'\n{3,}', '\n\n', t)
        return t.strip()


def html_to_text(s):
    p = HTMLText()
    p.feed(s)
    p.close()
    return p.text()


def strip_pod_codes(s):
    # innermost-first removal of X<...> / X<< ... >> formatting codes
    def repl(m):
        code, body = m.group(1), m.group(2).strip()
        if code == 'E':
            return {'lt': '<', 'gt': '>', 'verbar': '|', 'sol': '/', 'quot': '"',
                    'amp': '&'}.get(body, html.unescape('&%s;' % body) if not body.isdigit() else chr(int(body)))
        if code in ('X', 'Z'):
            return ''
        if code == 'L':
            if '|' in body:
                return body.split('|', 1)[0]
            body = body.split('/', 1)[-1] if body.startswith('/') else body
            return body.replace('"', '')
        return body
    for _ in range(6):
        n = re.sub(r'([A-Z])<<+\s+(.*?)\s+>>+', repl, s, flags=re.S)
        n = re.sub(r'([A-Z])<([^<>]*)>', repl, n)
        if n == s:
            break
        s = n
    return s


def pod_to_text(src):
    out = []
    in_pod = True
    skip_begin = False
    for para in re.split(r'\n\s*\n', src):
        if not para.strip():
            continue
        if para.startswith('='):
            cmd = para.split(None, 1)
            name = cmd[0]
            arg = cmd[1].strip() if len(cmd) > 1 else ''
            if name == '=cut':
                in_pod = False
            else:
                in_pod = True
            if name == '=begin':
                skip_begin = True
            elif name == '=end':
                skip_begin = False
            elif name in ('=head1', '=head2', '=head3', '=head4') and not skip_begin:
                out.append(strip_pod_codes(arg))
            elif name == '=item' and not skip_begin:
                a = strip_pod_codes(arg)
                if a and a not in ('*', '-') and not re.fullmatch(r'\d+\.?', a):
                    out.append(a)
            continue
        if not in_pod or skip_begin:
            continue
        if para[0] in ' \t':  # verbatim (code)
            continue
        out.append(strip_pod_codes(para))
    return '\n\n'.join(out)


def rst_to_text(src):
    """reStructuredText (Sphinx sources) -> prose. Drops literal blocks,
    code/directive bodies other than admonitions, tables, and markup."""
    lines = src.split('\n')
    out = []
    i = 0
    keep_dirs = ('note', 'warning', 'seealso', 'tip', 'important', 'caution',
                 'versionadded', 'versionchanged', 'deprecated', 'attention',
                 'hint', 'admonition', 'danger', 'topic', 'impl-detail')
    n = len(lines)

    def indent(l):
        return len(l) - len(l.lstrip(' '))

    while i < n:
        line = lines[i]
        s = line.strip()
        m = re.match(r'^(\s*)\.\.\s+([\w:-]+)::\s*(.*)$', line)
        if m:
            base = len(m.group(1))
            d = m.group(2)
            # collect the directive body (lines indented more than base, or blank)
            j = i + 1
            while j < n and (not lines[j].strip() or indent(lines[j]) > base):
                j += 1
            body = [l for l in lines[i + 1:j] if not re.match(r'^\s*:\w[\w-]*:', l)]
            ind = min([indent(l) for l in body if l.strip()] or [0])
            body = [l[ind:] for l in body]
            head = m.group(3).strip()
            if d in keep_dirs:
                if d in ('versionadded', 'versionchanged', 'deprecated'):
                    head = ''
            elif d in ('function', 'method', 'class', 'attribute', 'data', 'exception',
                       'decorator', 'classmethod', 'staticmethod', 'coroutinefunction',
                       'coroutinemethod', 'abstractmethod', 'describe', 'option',
                       'envvar', 'cmdoption', 'glossary', 'c:function', 'c:macro',
                       'c:type', 'c:member', 'c:var', 'opcode', 'pdbcommand'):
                head = ''   # drop the signature, keep the prose description
            elif d == 'rubric':
                body = []
            else:
                head, body = '', None   # code, tables, toctrees, images, ...
            # splice the (dedented) body back in so nested markup is processed too
            repl = ([head, ''] if head else []) + (body + [''] if body else [])
            lines[i:j] = repl
            n = len(lines)
            continue
        if re.match(r'^\s*\.\.(\s|$)', line):  # comment / target / substitution
            base = indent(line)
            j = i + 1
            while j < n and (not lines[j].strip() or indent(lines[j]) > base):
                j += 1
            i = j
            continue
        if s and re.fullmatch(r'([=\-~^"\'`#*+_.:])\1{2,}', s):  # section adornment
            i += 1
            continue
        if s.startswith('+--') or s.startswith('+==') or (s.startswith('|') and s.endswith('|')) or re.fullmatch(r'[= ]{5,}', s):
            i += 1
            continue
        if s.startswith('>>>') or s.startswith('...'):
            i += 1
            continue
        # literal block: paragraph ending with '::' followed by indented block
        if s.endswith('::') and not s.startswith('..'):
            text = line.rstrip()
            text = text[:-1] if not text.endswith(' ::') else text[:-3]
            out.append(text if text.strip() else '')
            base = indent(line)
            j = i + 1
            while j < n and not lines[j].strip():
                j += 1
            if j < n and indent(lines[j]) > base:
                while j < n and (not lines[j].strip() or indent(lines[j]) > base):
                    j += 1
                i = j
                out.append('')
                continue
            i += 1
            continue
        out.append(line)
        i += 1
    t = '\n'.join(out)
    # inline markup
    t = re.sub(r':rfc:`(\d+)[^`]*`', r'RFC \1', t)
    t = re.sub(r':pep:`(\d+)[^`]*`', r'PEP \1', t)
    t = re.sub(r':[\w:.+-]+:`~?!?([^`<]*?)\s*<[^`>]*>`', r'\1', t)
    t = re.sub(r':[\w:.+-]+:`~?!?([^`]*)`', lambda m: m.group(1).split('.')[-1] if m.group(1).startswith('~') else m.group(1), t)
    t = re.sub(r'`([^`<]+?)\s*<[^`>]+>`__?', r'\1', t)
    t = re.sub(r'``([^`]+)``', r'\1', t)
    t = re.sub(r'`([^`]+)`_{0,2}', r'\1', t)
    t = re.sub(r'\*\*([^*\n]+)\*\*', r'\1', t)
    t = re.sub(r'(?<![\w*])\*([^*\s][^*\n]*?)\*(?![\w*])', r'\1', t)
    t = re.sub(r'\|(\w[\w -]*)\|', r'\1', t)
    t = re.sub(r'\[#\w*\]_', '', t)
    # dedent whole lines that are blockquote-ish
    return t


def asciidoc_to_text(src):
    out = []
    lines = src.split('\n')
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        s = line.strip()
        if re.fullmatch(r'(-{4,}|\.{4,}|={4,}|\+{4,}|_{4,}|\*{4,})', s) and i + 1 < n:
            # delimited block: find its end and drop it (listing/literal) or keep (quote/sidebar)
            delim = s
            j = i + 1
            while j < n and lines[j].strip() != delim:
                j += 1
            if delim[0] in '_*=':
                out.extend(lines[i + 1:j])
            i = j + 1
            continue
        if re.fullmatch(r'[=\-~^+]{3,}', s):  # title underline
            i += 1
            continue
        if re.match(r'^(\[.*\]|:[\w-]+:.*|include::.*|ifdef::.*|ifndef::.*|endif::.*|//.*)$', s):
            i += 1
            continue
        if s.startswith('$ ') or (line.startswith('\t') or line.startswith('    ')) and not s.startswith(('*', '-')):
            # literal paragraph (indented) -> code/commands
            i += 1
            continue
        out.append(line)
        i += 1
    t = '\n'.join(out)
    t = re.sub(r'link(?:git)?:([\w./-]+)\[(\d)\]', r'\1(\2)', t)
    t = re.sub(r'(?:link|https?):[^\s\[]*\[([^\]]*)\]', r'\1', t)
    t = re.sub(r'<<[^,>]*,\s*([^>]*)>>', r'\1', t)
    t = re.sub(r'<<([^>]*)>>', r'\1', t)
    t = re.sub(r'`([^`]*)`', r'\1', t)
    t = re.sub(r"'([^'\n]+)'", r'"\1"', t) if False else t
    t = re.sub(r'(?<!\w)\*([^*\n]+)\*(?!\w)', r'\1', t)
    t = re.sub(r'(?<!\w)_([^_\n]+)_(?!\w)', r'\1', t)
    t = t.replace('{litdd}', '--').replace('{caret}', '^').replace('{tilde}', '~')
    t = re.sub(r'^([^\n]+)::\s*$', r'\1:', t, flags=re.M)
    return t


def info_nodes(src):
    """Yield (node name, text) for each node of an Info file."""
    for part in src.split('\x1f'):
        part = part.lstrip('\n')
        if not part.startswith('File:'):
            continue
        head, _, body = part.partition('\n')
        m = re.search(r'Node: ([^,\n]+)', head)
        name = m.group(1).strip() if m else '?'
        if name in ('Index', 'Concept Index', 'Function Index', 'Variable Index',
                    'Builtin Index', 'Reserved Word Index', 'Indexes',
                    'GNU Free Documentation License') or 'Index' in name:
            continue
        body = re.sub(r'^\* Menu:.*?(?=\n\n[^*\n]|\Z)', '', body, flags=re.S | re.M)
        body = re.sub(r'\*[Nn]ote ([^:]+)::', r'see \1', body)
        body = re.sub(r'\*[Nn]ote ([^:]+): [^.,]+[.,]', r'see \1', body)
        yield name, body


# --------------------------------------------------------------------------
# per-source extractors: each yields (doc_id, text)


def src_fortunes(pkg):
    # cookie files the package itself installs (fortunes-min owns fortunes,
    # literature, riddles; fortunes owns the rest); ascii-art is not prose
    files = [p for p in files_of(pkg, r'/usr/share/games/fortunes/[^/.]+$')
             if os.path.basename(p) != 'ascii-art']
    for p in files:
        text = decode(read_bytes(p))
        for k, cookie in enumerate(re.split(r'^%\s*$', text, flags=re.M)):
            c = cookie.strip('\n')
            if len(c.strip()) < 8:
                continue
            yield '%s:%d' % (os.path.basename(p), k), c


def src_dict(pkg):
    name = {'dict-devil': 'devil', 'dict-foldoc': 'foldoc'}[pkg]
    data = decode(read_bytes('/usr/share/dictd/%s.dict.dz' % name))
    index = open('/usr/share/dictd/%s.index' % name, encoding='utf-8', errors='replace').read().split('\n')

    def b64(s):
        alpha = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
        v = 0
        for ch in s:
            v = v * 64 + alpha.index(ch)
        return v
    raw = data.encode('utf-8') if isinstance(data, str) else data
    raw = read_bytes('/usr/share/dictd/%s.dict.dz' % name)
    seen = set()
    for line in index:
        parts = line.split('\t')
        if len(parts) < 3 or parts[0].startswith('00-database') or parts[0].startswith('00database'):
            continue
        off, ln = b64(parts[1]), b64(parts[2])
        if (off, ln) in seen:
            continue
        seen.add((off, ln))
        entry = decode(raw[off:off + ln])
        if name == 'foldoc':
            # headword line, then body indented 3; drop trailing date stamp
            entry = re.sub(r'\n\s*\(\d{4}-\d{2}-\d{2}\)\s*$', '', entry.rstrip())
            entry = re.sub(r'\{([^{}]*)\}', r'\1', entry)
            entry = re.sub(r'^   ', '', entry, flags=re.M)
        else:
            entry = re.sub(r'\{([^{}]*)\}', r'\1', entry)
        yield '%s:%d' % (name, off), entry


def src_kjv(pkg):
    # the `bible` program (package bible-kjv) decodes bible-kjv-text's data file
    out = subprocess.run(['bible', '-l1000000', 'gen1:1-rev22:21'], capture_output=True,
                         check=True).stdout
    # output: a "Book N" heading line per chapter, then "  V verse text" lines
    chapters, order, cur = {}, [], None
    for line in decode(out).split('\n'):
        m = re.match(r'^\s+(\d+) (.*)$', line)
        if m and cur is not None:
            chapters[cur].append(m.group(2).strip())
            continue
        m = re.match(r'^(\S.*?) (\d+)$', line.strip())
        if m:
            cur = (m.group(1), int(m.group(2)))
            if cur not in chapters:
                chapters[cur] = []
                order.append(cur)
    for book, ch in order:
        verses = chapters[(book, ch)]
        title = '%s %d' % (book, ch) if book != 'Psalms' else 'Psalm %d' % ch
        yield '%s %d' % (book, ch), title + '\n\n' + '\n'.join(verses)


def files_of(pkg, pattern):
    listed = subprocess.run(['dpkg', '-L', pkg], capture_output=True, text=True, check=True).stdout.split('\n')
    rx = re.compile(pattern)
    return sorted(p for p in listed if rx.search(p) and os.path.isfile(p) and not os.path.islink(p))


def src_html(pkg, pattern):
    for p in files_of(pkg, pattern):
        t = html_to_text(decode(read_bytes(p)))
        yield os.path.basename(p), t


def src_jargon(pkg):
    text = decode(read_bytes('/usr/share/doc/jargon-text/jargon.txt.gz'))
    # glossary entries start with "   :headword: ..." (the text is indented by
    # 3); the front matter is mostly tables of contents and is skipped
    text = re.sub(r'^   ', '', text, flags=re.M)
    parts = re.split(r'\n(?=:[^\n:]+:)', text)
    for k, part in enumerate(parts[1:]):
        part = re.sub(r'\{([^{}]*)\}', r'\1', part)
        yield 'jargon:%d' % k, part


def src_pod(pkg):
    for p in files_of(pkg, r'/usr/share/perl/[^/]+/pod/[^/]+\.pod$'):
        base = os.path.basename(p)
        if re.match(r'perl5\d+delta|perl\d+delta|perlhist|perltoc|perlmodlib|perlapi|perlintern|perluniprops|perlrepository', base):
            continue
        yield base, pod_to_text(decode(read_bytes(p)))


def src_rst(pkg, pattern, skip=None):
    for p in files_of(pkg, pattern):
        if skip and re.search(skip, p):
            continue
        yield p.split('_sources/')[-1], rst_to_text(decode(read_bytes(p)))


def src_info(pkg, pattern):
    for p in files_of(pkg, pattern):
        for name, body in info_nodes(decode(read_bytes(p))):
            yield '%s#%s' % (os.path.basename(p), name), body


def src_text(pkg, pattern, skip=None):
    for p in files_of(pkg, pattern):
        if skip and re.search(skip, p):
            continue
        yield os.path.basename(p), decode(read_bytes(p))


def src_asciidoc(pkg, pattern, skip=None):
    for p in files_of(pkg, pattern):
        if skip and re.search(skip, p):
            continue
        yield os.path.basename(p), asciidoc_to_text(decode(read_bytes(p)))


# name, package, license (short), extractor
SOURCES = [
    ('fortunes', 'fortunes', 'BSD-4-clause (fortune-mod, per debian/copyright)',
     lambda: src_fortunes('fortunes')),
    ('fortunes-min', 'fortunes-min', 'BSD-4-clause (fortune-mod, per debian/copyright)',
     lambda: src_fortunes('fortunes-min')),
    ('fortunes-bofh-excuses', 'fortunes-bofh-excuses', 'public domain',
     lambda: src_fortunes('fortunes-bofh-excuses')),
    ('devil', 'dict-devil', 'public domain (Ambrose Bierce, 1911)', lambda: src_dict('dict-devil')),
    ('jargon', 'jargon-text', 'public domain (Jargon File 4.4.7)', lambda: src_jargon('jargon-text')),
    ('kjv', 'bible-kjv-text', 'public domain text (KJV, 1611); data file "unrestricted use"',
     lambda: src_kjv('bible-kjv-text')),
    ('foldoc', 'dict-foldoc', 'GFDL-1.1+ (no invariant sections)', lambda: src_dict('dict-foldoc')),
    ('debian-handbook', 'debian-handbook', 'GPL-2+ or CC-BY-SA-3.0',
     lambda: src_html('debian-handbook', r'/html/en-US/[^/]+\.html$')),
    ('debian-reference', 'debian-reference-en', 'GPL-2+',
     lambda: src_html('debian-reference-en', r'\.en\.html$')),
    ('maint-guide', 'maint-guide', 'GPL-2+', lambda: src_html('maint-guide', r'\.en\.html$')),
    ('developers-reference', 'developers-reference', 'GPL-2',
     lambda: src_rst('developers-reference', r'_sources/.*\.rst\.txt$')),
    ('debian-policy', 'debian-policy', 'GPL-2+ (policy), other free licenses for appendices',
     lambda: src_rst('debian-policy', r'_sources/.*\.rst\.txt$')),
    ('doc-debian', 'doc-debian', 'GPL / Open Publication License v1.0 (debian.org texts)',
     lambda: src_text('doc-debian', r'/usr/share/doc/debian/.*\.txt(\.gz)?$',
                      skip=r'constitution\.1\.|social-contract\.1\.')),
    ('gnu-standards', 'gnu-standards', 'GFDL-1.3+ (no invariant sections)',
     lambda: src_info('gnu-standards', r'\.info\.gz$')),
    ('bash-doc', 'bash-doc', 'GFDL-1.3+ (Bash Reference Manual)',
     lambda: src_info('bash-doc', r'bash\.info\.gz$')),
    ('perl-doc', 'perl-doc', 'GPL-1+ or Artistic',
     lambda: src_pod('perl-doc')),
    ('python-doc', 'python3.11-doc', 'PSF-2.0 (Python documentation)',
     lambda: src_rst('python3.11-doc', r'_sources/.*\.rst\.txt$',
                     skip=r'whatsnew/changelog|/c-api/|license\.rst')),
    ('git-doc', 'git-doc', 'GPL-2', lambda: src_asciidoc('git-doc', r'\.txt$',
                                                        skip=r'RelNotes|/technical/|howto-index|api-')),
]

MAX_DOC = 24 * 1024


def split_big(text):
    if len(text.encode('utf-8')) <= MAX_DOC:
        return [text]
    pieces, cur, size = [], [], 0
    for para in text.split('\n\n'):
        b = len(para.encode('utf-8')) + 2
        if cur and size + b > MAX_DOC:
            pieces.append('\n\n'.join(cur))
            cur, size = [], 0
        cur.append(para)
        size += b
    if cur:
        pieces.append('\n\n'.join(cur))
    return pieces


def pkg_version(pkg):
    r = subprocess.run(['dpkg-query', '-W', '-f=${Version}', pkg], capture_output=True, text=True)
    return r.stdout.strip() or '?'


def piece_hash(source, doc_id, piece):
    return hashlib.sha1(('%s\0%s\0%d' % (source, doc_id, piece)).encode()).digest()


HELDOUT_FRACTION = 0.02


def choose_heldout(pieces):
    """pieces: list of (hash, bytes). Stratified per source: walk the pieces in
    hash order and hold out pieces until ~2% of the source's bytes are held
    out (a piece is skipped if it would overshoot 2% by more than half)."""
    total = sum(len(b) for _, b in pieces)
    target = HELDOUT_FRACTION * total
    chosen, got = set(), 0
    for idx in sorted(range(len(pieces)), key=lambda i: pieces[i][0]):
        if got >= target:
            break
        size = len(pieces[idx][1])
        if got + size <= 1.5 * target:
            chosen.add(idx)
            got += size
    return chosen


def fold(s):
    return re.sub(r'\s+', ' ', s).strip().lower()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default='.carry/corpus')
    ap.add_argument('--sources-md', default='tools/corpus/SOURCES.md')
    ap.add_argument('--only', default='')
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    seen_docs, seen_paras = set(), set()
    train, held, held_src = [], [], []
    stats = []
    for name, pkg, lic, fn in SOURCES:
        if args.only and name not in args.only.split(','):
            continue
        st = {'source': name, 'package': pkg, 'version': pkg_version(pkg), 'license': lic,
              'docs': 0, 'train_bytes': 0, 'heldout_bytes': 0, 'heldout_docs': 0,
              'dropped_dup_docs': 0}
        pieces = []
        for doc_id, text in fn():
            text = normalise(text)
            for k, piece in enumerate(split_big(text)):
                paras = []
                for para in piece.split('\n\n'):
                    if len(para) >= 120:
                        f = hashlib.sha1(fold(para).encode()).digest()
                        if f in seen_paras:
                            continue
                        seen_paras.add(f)
                    paras.append(para)
                piece = '\n\n'.join(paras).strip('\n')
                if len(piece.strip()) < 8:
                    continue
                f = hashlib.sha1(fold(piece).encode()).digest()
                if f in seen_docs:
                    st['dropped_dup_docs'] += 1
                    continue
                seen_docs.add(f)
                pieces.append((piece_hash(name, doc_id, k), piece.encode('utf-8')))
        chosen = choose_heldout(pieces)
        st['docs'] = len(pieces)
        for idx, (h, b) in enumerate(pieces):
            if idx in chosen:
                held.append(b)
                held_src.append((name, h, b))
                st['heldout_bytes'] += len(b)
                st['heldout_docs'] += 1
            else:
                train.append(b)
                st['train_bytes'] += len(b)
        stats.append(st)
        print('%-22s %-24s docs %7d  train %10d  heldout %8d  dupdocs %d' % (
            name, st['version'], st['docs'], st['train_bytes'], st['heldout_bytes'],
            st['dropped_dup_docs']), file=sys.stderr)
    # documents are joined by NUL (byte 0 = the model's eos/bos); files start with NUL
    with open(os.path.join(args.out, 'train.txt'), 'wb') as f:
        f.write(b'\0' + b'\0'.join(train) + b'\0')
    with open(os.path.join(args.out, 'heldout.txt'), 'wb') as f:
        f.write(b'\0' + b'\0'.join(held) + b'\0')
    sample = heldout_sample(held_src, stats)
    with open(os.path.join(args.out, 'heldout_sample.txt'), 'wb') as f:
        f.write(sample)
    with open(os.path.join(args.out, 'stats.json'), 'w') as f:
        json.dump(stats, f, indent=1)
    tot_t = sum(s['train_bytes'] for s in stats)
    tot_h = sum(s['heldout_bytes'] for s in stats)
    print('total train %d bytes (%d docs), heldout %d bytes (%d docs)' % (
        tot_t, len(train), tot_h, len(held)), file=sys.stderr)
    if args.sources_md:
        write_sources_md(args.sources_md, stats, tot_t, tot_h, len(train), len(held))


SAMPLE_MAX = 20000


def heldout_sample(held_src, stats):
    """A fixed <= 20,000-byte slice of the held-out split, for a quick test:
    every source gets a byte quota proportional to its held-out bytes (at
    least 300); it is filled with that source's held-out documents (in hash
    order), cut at line ends. Documents are separated by a blank line."""
    tot = sum(s['heldout_bytes'] for s in stats) or 1
    budget = SAMPLE_MAX - 2 * len(stats)
    out = []
    for st in stats:
        quota = max(300, int(budget * st['heldout_bytes'] / tot))
        docs = sorted([(h, b) for n, h, b in held_src if n == st['source']])
        used = 0
        for _, b in docs:
            if used >= quota - 40:
                break
            take = []
            for line in b.split(b'\n'):
                if used + len(line) + 1 > quota:
                    break
                take.append(line)
                used += len(line) + 1
            text = b'\n'.join(take).strip(b'\n')
            if text:
                out.append(text)
    data = b'\n\n'.join(out) + b'\n'
    while len(data) > SAMPLE_MAX:  # never expected; keep the promise anyway
        out.pop()
        data = b'\n\n'.join(out) + b'\n'
    data.decode('utf-8')
    return data


def write_sources_md(path, stats, tot_t, tot_h, nt, nh):
    L = ['# Default-model corpus: sources', '',
         'Generated by `tools/gather_corpus.sh` (which runs `tools/corpus/extract.py`) on',
         'Debian 12 (bookworm). Every source is a Debian `main` package; the text is',
         'extracted from the files the package installs, stripped of markup,',
         'normalised and deduplicated (see the docstring of `extract.py`). Documents',
         'are split into train / held-out by a hash of (source, document id):',
         'about 2% held out, spread over all sources.', '',
         '| source | Debian package | version | license | docs | train bytes | held-out bytes |',
         '|---|---|---|---|---:|---:|---:|']
    for s in stats:
        L.append('| %s | %s | %s | %s | %d | %d | %d |' % (
            s['source'], s['package'], s['version'], s['license'], s['docs'],
            s['train_bytes'], s['heldout_bytes']))
    L.append('| **total** | | | | %d | %d | %d |' % (nt + nh, tot_t, tot_h))
    L += ['', 'The `bible-kjv` package (GPL-2+, the `bible` program) is installed only to',
          'decode `bible-kjv-text`\'s compressed data file; `dictzip`-compressed dict files',
          'are read with Python\'s gzip module.', '',
          'Corpus files (not committed; written to `.carry/corpus/`): `train.txt`,',
          '`heldout.txt` — UTF-8 documents separated by a NUL byte (0x00), which is the',
          'model\'s end-of-document token.', '']
    with open(path, 'w') as f:
        f.write('\n'.join(L))


if __name__ == '__main__':
    main()
