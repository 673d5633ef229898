// Vite config of the two web apps (see docs/web.md). `npm run build:web`
// builds them into web/dist, which the server serves; `npm run dev` serves
// them from source at http://localhost:5173/console/ and /widget/, proxying
// the API and /mqtt to a server started with `npm start` (PORT 3000, or
// SWITCHBOARD_URL).
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { i18nCatalogs } from './i18n/catalogs.mjs';

const root = fileURLToPath(new URL('.', import.meta.url));
const target = process.env.SWITCHBOARD_URL ?? 'http://127.0.0.1:3000';
const proxied = ['/api', '/session', '/docs', '/healthz', '/widget.js', '/widget/demo', '/widget/frame'];

export default defineConfig({
  root,
  base: '/',
  publicDir: 'public',
  plugins: [i18nCatalogs(), react()],
  logLevel: process.env.VITE_LOG_LEVEL ?? 'info',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 600,
    rollupOptions: {
      input: { console: `${root}console/index.html`, widget: `${root}widget/index.html` },
      // two long-lived vendor files, shared by both apps and cached across releases
      output: { manualChunks: (id) => (id.includes('node_modules/mqtt') ? 'mqtt' : /node_modules\/(react|react-dom|scheduler)\//.test(id) ? 'react' : undefined) },
    },
  },
  server: {
    proxy: {
      ...Object.fromEntries(proxied.map((path) => [path, { target }])),
      '/mqtt': { target, ws: true },
    },
  },
});
