// The toolstack knock for the admin commands (cli/ reaches the backends only through app/).
export { knock, type Knock } from '../toolstack/knock.js';
