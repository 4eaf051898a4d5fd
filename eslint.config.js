// Lint: the promise rules that catch a forgotten await or a promise handed to something that does
// not wait for it — in a daemon that must finish every shutdown, a lost rejection is a lost guest.
// Type-aware, over src, bench and the tests (tsconfig.lint.json). Run by `npm run lint`, hence `npm test`.

import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '**/*.js', '**/*.mjs'] },
  {
    files: ['src/**/*.ts', 'bench/**/*.ts', 'test/**/*.ts', '*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { project: './tsconfig.lint.json', tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
);
