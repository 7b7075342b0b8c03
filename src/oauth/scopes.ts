/** The one scope Deputy's own authorization server grants (client credentials): admin access. */
export const ADMIN_SCOPE = 'deputy:admin';
/** The scope of a receiver's access to the Shared Signals transmitter (client_credentials, clients linked to resources). */
export const SSF_SCOPE = 'ssf:stream';
