// size.mjs — the SDK's size as shipped to a browser: each module minified
// by terser (a devDependency) and gzipped (level 9). `npm run size`.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { minify } from 'terser';

for (const f of ['uns.js', 'uns-sw.js']) {
  const src = readFileSync(new URL(f, import.meta.url), 'utf8');
  const { code } = await minify(src, { module: true, compress: true, mangle: true });
  const gz = gzipSync(code, { level: 9 }).length;
  console.log(`${f}: ${src.length} B source, ${code.length} B minified, ${gz} B minified+gzipped`);
}
