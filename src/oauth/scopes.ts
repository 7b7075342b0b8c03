/** The one scope Deputy's own authorization server grants (client credentials): admin access. */
export const ADMIN_SCOPE = 'deputy:admin';
