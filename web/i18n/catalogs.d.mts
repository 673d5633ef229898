// Types of catalogs.mjs (plain Node, shared by the Vite config, the extract script and the catalog test).
export declare const webRoot: string;
export declare const catalogRoot: string;
export declare const TRANSLATED: readonly string[];
export declare const AREAS: readonly ('widget' | 'desk' | 'admin')[];
export declare function areaOf(file: string): 'widget' | 'desk' | 'admin' | undefined;
export declare function extract(): { ids: Map<string, Map<string, string[]>>; dynamic: string[] };
export declare const catalogFile: (area: string, locale: string) => string;
export declare function readCatalog(area: string, locale: string): Record<string, string>;
export declare function compileCatalog(messages: Record<string, string>): Record<string, unknown>;
export declare function i18nCatalogs(): { name: string; enforce: 'pre'; load(id: string): string | null };
