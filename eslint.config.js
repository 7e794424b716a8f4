import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const restricted = (names, message) => names.map((name) => ({name, message}))
// Imports only the seams may use (src/host/runner.ts, fs.ts, socket.ts).
const PROCESS_AND_FILE_IMPORTS = [
  ...restricted(['execa', 'node:child_process', 'child_process'], 'Run external commands through src/host/runner.ts (CommandRunner).'),
  ...restricted(['node:fs', 'node:fs/promises', 'fs'], 'Touch host files through src/host/fs.ts (HostFs).'),
]
const SOCKET_IMPORTS = restricted(['node:net', 'net'], 'Open sockets through src/host/socket.ts (UnixSocketClient, QmpClient, GuestAgentSocketChannel).')

export default tseslint.config(
  {ignores: ['dist/**', 'node_modules/**', 'test/fixtures/**', 'coverage/**']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Plain Node scripts (bin/, scripts/, the simulated kernel's fake tools).
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      globals: {process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly'},
    },
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
    },
  },
  {
    // The one command-runner seam and the one host-filesystem seam: nothing else may spawn processes or touch host files.
    files: ['src/**/*.ts'],
    ignores: ['src/host/runner.ts', 'src/host/fs.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          ...PROCESS_AND_FILE_IMPORTS,
          ...SOCKET_IMPORTS,
        ],
      }],
    },
  },
  {
    // The core (host/, apply/, doctor/, guest/, ui/) never imports the use cases: Context, TargetHost,
    // Operator and ProgressEvent live in src/host/ (target.ts, progress.ts).
    files: ['src/host/**/*.ts', 'src/apply/**/*.ts', 'src/doctor/**/*.ts', 'src/guest/**/*.ts', 'src/ui/**/*.ts'],
    ignores: ['src/host/runner.ts', 'src/host/fs.ts', 'src/host/socket.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          ...PROCESS_AND_FILE_IMPORTS,
          ...SOCKET_IMPORTS,
        ],
        patterns: [{group: ['**/app/*', '**/app/**'], message: 'The core does not import src/app: take a Context from src/host/target.ts.'}],
      }],
    },
  },
  {
    // The socket seam: the one file that may open sockets (still no processes, no host files).
    files: ['src/host/socket.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          ...PROCESS_AND_FILE_IMPORTS,
        ],
      }],
    },
  },
)
