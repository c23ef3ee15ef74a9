/** Schema of `deny`: access rules that refuse the callers they match (same rule shape as `allow`). */
import { accessRulesSchema } from '../allow/schema.js';

/** DenySchema is the value of `deny:`. */
export const DenySchema = accessRulesSchema(
  'Who may not use the route: one rule or a list of rules (any one matching rule refuses). Within a rule every condition must hold. A matching caller is refused with 403 `GH_FORBIDDEN` and never forwarded, whatever `allow` says. A request without an authenticated caller matches no deny rule: refuse those with `allow` or `auth`.',
);
