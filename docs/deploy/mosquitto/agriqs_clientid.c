/* Mosquitto 2.0 plugin: a client id belongs to the account that logged in.
 *
 * Without it, any account may connect with any client id, and mosquitto then
 * disconnects the client that had that id and (with clean start) discards its
 * session: the enrollment account shipped in every kiosk image could wipe a kiosk's
 * queued commands, or take a collector's session with the events in flight to it.
 *
 * Rule (docs/deploy/mosquitto/README.md, "Identity"):
 *   kiosk "330100/K001"      -> "330100-K001" or "330100-K001-<anything>"
 *   collector "collector-…"  -> exactly its username (one account per instance)
 *   any other account "name" -> "name" or "name-<anything>"
 * Anything else is refused at CONNECT (CONNACK 0x87 Not authorized) before the
 * broker looks for a session to take over. The password check is left to the
 * password file (this callback answers "defer" when the id fits).
 *
 * Build (packages mosquitto-dev and gcc):
 *   cc -shared -fPIC -O2 -Wall -Wextra -o agriqs_clientid.so agriqs_clientid.c
 * tests/support/mqtt_broker.py builds it the same way for every test broker that
 * runs the production ACL (tests/security/test_broker_identity.py).
 */
#include <stdio.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

static mosquitto_plugin_id_t *plugin_id = NULL;

static int id_fits(const char *id, const char *owner, int exact)
{
    size_t n = strlen(owner);
    if (strncmp(id, owner, n) != 0) {
        return 0;
    }
    if (id[n] == '\0') {
        return 1;
    }
    return !exact && id[n] == '-' && id[n + 1] != '\0';
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_basic_auth *ed = event_data;
    const char *user = ed->username;
    const char *id = mosquitto_client_id(ed->client);
    char owner[256];
    size_t i;
    (void)event;
    (void)userdata;

    if (user == NULL || id == NULL || strlen(user) >= sizeof(owner)) {
        return MOSQ_ERR_AUTH;
    }
    for (i = 0; user[i] != '\0'; i++) {
        owner[i] = user[i] == '/' ? '-' : user[i];
    }
    owner[i] = '\0';
    if (id_fits(id, owner, strncmp(user, "collector-", 10) == 0)) {
        return MOSQ_ERR_PLUGIN_DEFER;
    }
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         "agriqs_clientid: client id %s refused for account %s", id, user);
    return MOSQ_ERR_AUTH;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    (void)supported_version_count;
    (void)supported_versions;
    return 5;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                          struct mosquitto_opt *opts, int opt_count)
{
    (void)userdata;
    (void)opts;
    (void)opt_count;
    plugin_id = identifier;
    return mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL);
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts, int opt_count)
{
    (void)userdata;
    (void)opts;
    (void)opt_count;
    return mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
}
