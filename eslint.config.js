// Lint for the TypeScript sources, specs and benchmarks: ESLint's recommended rules plus
// typescript-eslint's (syntax-only, so it runs in seconds; tsc does the type checking).
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'target/', 'node_modules/', 'binding.cjs', 'binding.d.cts', 'crate/', 'docs/api/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: globals.node,
    },
    rules: {
      // `_`-prefixed names and rest siblings are deliberate omissions.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
)
