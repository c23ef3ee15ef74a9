/** The programmatic API of Gatehouse. */
export { startGateway, type RunningGateway, type StartOptions } from './main.js';
export { loadConfigFile, loadConfigText, type LoadedConfig } from './config/load.js';
export { compile } from './config/compile.js';
export { ConfigError } from './config/errors.js';
export { jsonSchema } from './config/schema.js';
