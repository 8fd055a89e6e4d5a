# shellcheck shell=bash
# scripts/lib/kafka-secure.sh — the secure listeners of scripts/kafka's 1-node clusters (TLS
# material, users, per-listener broker settings, ACLs and client files, all under
# $DATA/secure). Sourced by scripts/kafka, whose header documents what they are; uses its
# globals (DATA, PORT_BASE, SECURE_*, SASL_*, DENIED_PREFIX, REAUTH_MS, START_TIMEOUT) and
# helpers (die, run_java, broker_port). Nothing here depends on the Kafka version: 3.9's
# StorageTool takes the same --add-scram and its AclCommand the same options
# (run_java maps the class).


secure_port() {
    local entry off=""
    for entry in "${SECURE_LISTENERS[@]}"; do
        if [[ "${entry%%:*}" == "$1" ]]; then
            off="${entry#*:}"
            off="${off%%:*}"
        fi
    done
    [[ -n "$off" ]] || die "no secure listener named '$1'"
    echo $((PORT_BASE + off))
}

secure_ports() {
    local entry
    for entry in "${SECURE_LISTENERS[@]}"; do secure_port "${entry%%:*}"; done
}

secure_password() { cat "$DATA/secure/$1.password"; }

# keytool of the JDK that runs Kafka (KEYTOOL overrides).
keytool_cmd() {
    if [[ -n "${KEYTOOL:-}" ]]; then
        echo "$KEYTOOL"
        return
    fi
    local java_path
    java_path=$(command -v "$JAVA") || die "java not found"
    java_path=$(readlink -f "$java_path")
    if [[ -x "${java_path%/*}/keytool" ]]; then
        echo "${java_path%/*}/keytool"
    else
        command -v keytool || die "keytool not found (set KEYTOOL)"
    fi
}

# Passwords, random per cluster start: hex, so that they need no quoting anywhere (JAAS,
# StorageTool --add-scram, properties files). One file each: <what>.password.
secure_init() {
    local sec="$DATA/secure" what
    command -v openssl >/dev/null 2>&1 || die "openssl not found (needed for the secure listeners; or set VOLLEY_KAFKA_SECURE=0)"
    mkdir -p "$sec"
    chmod 700 "$sec"
    for what in truststore keystore key server "${SECURE_USERS[@]}"; do
        openssl rand -hex 16 >"$sec/$what.password"
    done
}

# The test PKI, openssl only (fast): a CA, the server certificates (good, expired, wrong
# host), the client certificate and key in every form, the server keystores (PKCS12).
secure_gen_pki() {
    local sec="$DATA/secure" w="$DATA/secure/ca-work" start end past
    mkdir -p "$w/certs"
    : >"$w/index.txt"
    openssl rand -hex 8 >"$w/serial"
    # Backdated a week (clock skew; and the expired certificate lies inside the CA's validity).
    start=$(date -u -d '7 days ago' +%Y%m%d%H%M%SZ)
    end=$(date -u -d '365 days' +%Y%m%d%H%M%SZ)
    past=$(date -u -d '1 day ago' +%Y%m%d%H%M%SZ)
    cat >"$w/openssl.cnf" <<EOF
# Written by scripts/kafka: the per-cluster test CA.
[ ca ]
default_ca = testca
[ testca ]
database = $w/index.txt
serial = $w/serial
new_certs_dir = $w/certs
certificate = $sec/ca.pem
private_key = $sec/ca-key.pem
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
preserve = yes
[ policy_any ]
organizationName = optional
commonName = supplied
[ req ]
distinguished_name = req_dn
[ req_dn ]
[ ext_ca ]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ ext_server ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ ext_wronghost ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.invalid
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ ext_client ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    # RSA 2048 keys (unencrypted PKCS#8 PEM), in parallel.
    local k pids=()
    for k in ca server client; do
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$sec/$k-key.pem" 2>/dev/null &
        pids+=($!)
    done
    for k in "${pids[@]}"; do wait "$k"; done
    # sign NAME CSR-KEY SUBJECT EXTENSIONS NOT-AFTER [extra openssl ca args]
    sign() {
        openssl req -new -config "$w/openssl.cnf" -key "$sec/$2-key.pem" -subj "$3" -out "$w/$1.csr"
        openssl ca -batch -notext -config "$w/openssl.cnf" -in "$w/$1.csr" -out "$sec/$1-cert.pem" \
            -extensions "$4" -startdate "$start" -enddate "$5" "${@:6}" 2>"$w/$1.log"
    }
    sign ca ca "/O=Volley test/CN=Volley test CA" ext_ca "$end" -selfsign -keyfile "$sec/ca-key.pem"
    mv "$sec/ca-cert.pem" "$sec/ca.pem"
    sign server server "/O=Volley test/CN=localhost" ext_server "$end"
    sign expired server "/O=Volley test/CN=localhost" ext_server "$past"
    sign wronghost server "/O=Volley test/CN=wrong.invalid" ext_wronghost "$end"
    sign client client "/CN=volley-client" ext_client "$end"
    # Chains (leaf first, then the CA) and the server keystores.
    for k in server expired wronghost client; do
        cat "$sec/ca.pem" >>"$sec/$k-cert.pem"
    done
    for k in server expired wronghost; do
        openssl pkcs12 -export -name "$k" -inkey "$sec/server-key.pem" -in "$sec/$k-cert.pem" \
            -passout "file:$sec/server.password" -out "$sec/$k.p12"
    done
    # For clients: the key encrypted (PKCS#8, PBES2: PBKDF2-HMAC-SHA256 + AES-256-CBC) and
    # the PKCS12 keystore (key + chain).
    openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -in "$sec/client-key.pem" \
        -passout "file:$sec/key.password" -out "$sec/client-key-encrypted.pem"
    openssl pkcs12 -export -name volley-client -inkey "$sec/client-key.pem" -in "$sec/client-cert.pem" \
        -passout "file:$sec/keystore.password" -out "$sec/client.p12"
}

# The Java stores openssl cannot write: JKS, and a PKCS12 truststore (a certificate-only
# PKCS12 from openssl 3.0 lacks the attribute that makes Java see a trusted entry). Three
# keytool JVMs in parallel; meant to run in the background while the node starts.
secure_gen_java_stores() {
    local sec="$DATA/secure" kt pids=() p rc=0
    kt=$(keytool_cmd)
    local jopts=(-J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC -J-Xshare:auto -J-Xmx64m)
    "$kt" "${jopts[@]}" -importcert -noprompt -alias volley-test-ca -file "$sec/ca.pem" \
        -keystore "$sec/truststore.p12" -storetype PKCS12 -storepass:file "$sec/truststore.password" &
    pids+=($!)
    "$kt" "${jopts[@]}" -importcert -noprompt -alias volley-test-ca -file "$sec/ca.pem" \
        -keystore "$sec/truststore.jks" -storetype JKS -storepass:file "$sec/truststore.password" &
    pids+=($!)
    "$kt" "${jopts[@]}" -importkeystore -noprompt -srckeystore "$sec/client.p12" -srcstoretype PKCS12 \
        -srcstorepass:file "$sec/keystore.password" -destkeystore "$sec/client.jks" -deststoretype JKS \
        -deststorepass:file "$sec/keystore.password" -destkeypass:file "$sec/keystore.password" &
    pids+=($!)
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    return "$rc"
}

# StorageTool format arguments that create the SCRAM credentials of every user.
secure_scram_format_args() {
    local user mech
    for user in "${SECURE_USERS[@]}"; do
        for mech in SCRAM-SHA-256 SCRAM-SHA-512; do
            printf '%s\n' --add-scram "$mech=[name=$user,password=$(secure_password "$user")]"
        done
    done
}

# server.properties lines of the secure listeners (node 1 of a 1-node cluster).
secure_broker_config() {
    local sec="$DATA/secure" name mech lower users="" user
    for user in "${SECURE_USERS[@]}"; do
        users+=" user_$user=\"$(secure_password "$user")\""
    done
    echo "# Secure listeners (scripts/kafka: $sec/listeners.properties). Inter-broker and"
    echo "# controller traffic stays PLAINTEXT, whose principal is User:ANONYMOUS."
    echo "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    echo "allow.everyone.if.no.acl.found=true"
    echo "super.users=User:admin;User:ANONYMOUS"
    for name in ssl mtls sasl_ssl reauth expired wronghost; do
        local ks=server
        [[ "$name" == expired || "$name" == wronghost ]] && ks="$name"
        echo "listener.name.$name.ssl.keystore.type=PKCS12"
        echo "listener.name.$name.ssl.keystore.location=$sec/$ks.p12"
        echo "listener.name.$name.ssl.keystore.password=$(secure_password server)"
        echo "listener.name.$name.ssl.key.password=$(secure_password server)"
    done
    echo "listener.name.mtls.ssl.client.auth=required"
    echo "listener.name.mtls.ssl.truststore.type=PEM"
    echo "listener.name.mtls.ssl.truststore.location=$sec/ca.pem"
    for name in "${SASL_LISTENERS[@]}"; do
        echo "listener.name.$name.sasl.enabled.mechanisms=$(listener_mechanisms "$name")"
        for mech in "${SASL_MECHANISMS[@]}"; do
            lower="${mech,,}"
            case "$mech" in
            PLAIN)
                echo "listener.name.$name.$lower.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$users;"
                ;;
            SCRAM-*)
                echo "listener.name.$name.$lower.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
                ;;
            OAUTHBEARER)
                # Unsecured JWS (alg none): the principal is the token's sub claim. This is
                # Kafka's default validator when no handler is set; explicit here all the same.
                echo "listener.name.$name.$lower.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"admin\";"
                echo "listener.name.$name.$lower.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler"
                ;;
            esac
        done
    done
    echo "listener.name.reauth.connections.max.reauth.ms=$REAUTH_MS"
}

# DENY User:bob everything on topics and transactional ids prefixed volley-denied. An ACL on
# a resource makes allow.everyone.if.no.acl.found no longer apply to it, so User:* gets an
# ALLOW on the same prefix (DENY wins for bob). Through PLAINTEXT (User:ANONYMOUS, a super user).
# Started as soon as the node is launched: the admin client retries until the broker listens,
# for at most the start timeout.
secure_create_acls() {
    local cfg="$DATA/secure/acl-command.properties"
    echo "default.api.timeout.ms=$((START_TIMEOUT * 1000))" >"$cfg"
    run_java org.apache.kafka.tools.AclCommand --bootstrap-server "127.0.0.1:$(broker_port 1)" \
        --command-config "$cfg" --add --allow-principal 'User:*' --deny-principal User:bob \
        --operation All --resource-pattern-type prefixed \
        --topic "$DENIED_PREFIX" --transactional-id "$DENIED_PREFIX"
}

# A failed start ends the background jobs it started (and their children: openssl, keytool,
# the AclCommand JVM).
end_secure_jobs() {
    local pid
    for pid in "${SECURE_JOBS[@]+"${SECURE_JOBS[@]}"}"; do
        pkill -TERM -P "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
    done
}

# Kafka client configuration of LISTENER (ssl, mtls or a SASL listener) with MECHANISM (SASL
# only) as USER; prints the file's path, writing the file if it is not there yet.
client_config_file() {
    local listener="$1" mech="${2^^}" user="${3:-admin}" sec="$DATA/secure" file protocol=SSL
    case "$listener" in
    ssl | mtls)
        file="$sec/client-$listener.properties"
        ;;
    sasl_plaintext | sasl_ssl | reauth)
        [[ " ${SASL_MECHANISMS[*]} " == *" $mech "* ]] || die "unknown mechanism '$2' (one of: ${SASL_MECHANISMS[*]})"
        [[ " ${SECURE_USERS[*]} " == *" $user "* ]] || die "unknown user '$user' (one of: ${SECURE_USERS[*]})"
        protocol=SASL_SSL
        [[ "$listener" == sasl_plaintext ]] && protocol=SASL_PLAINTEXT
        file="$sec/client-$listener-${mech,,}.properties"
        [[ "$user" == admin ]] || file="$sec/client-$listener-${mech,,}-$user.properties"
        ;;
    *) die "no client configuration for listener '$listener' (one of: ssl mtls ${SASL_LISTENERS[*]})" ;;
    esac
    if [[ ! -f "$file" ]]; then
        {
            echo "# Written by scripts/kafka: Kafka client settings for the ${listener^^} listener."
            echo "bootstrap.servers=127.0.0.1:$(secure_port "$listener")"
            echo "security.protocol=$protocol"
            if [[ "$protocol" != SASL_PLAINTEXT ]]; then
                echo "ssl.truststore.type=PKCS12"
                echo "ssl.truststore.location=$sec/truststore.p12"
                echo "ssl.truststore.password=$(secure_password truststore)"
            fi
            if [[ "$listener" == mtls ]]; then
                echo "ssl.keystore.type=PKCS12"
                echo "ssl.keystore.location=$sec/client.p12"
                echo "ssl.keystore.password=$(secure_password keystore)"
                echo "ssl.key.password=$(secure_password keystore)"
            fi
            if [[ "$protocol" == SASL_* ]]; then
                echo "sasl.mechanism=$mech"
                case "$mech" in
                PLAIN) echo "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"$user\" password=\"$(secure_password "$user")\";" ;;
                SCRAM-*) echo "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$user\" password=\"$(secure_password "$user")\";" ;;
                OAUTHBEARER) echo "sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"$user\";" ;;
                esac
            fi
        } >"$file.tmp.$$"
        mv -f "$file.tmp.$$" "$file"
    fi
    echo "$file"
}

# The SASL mechanisms listener $1 enables, comma-separated: all of them, except that REAUTH
# leaves SCRAM-SHA-256 out (so that a test can meet a mechanism a listener does not enable).
listener_mechanisms() {
    local mech out=""
    for mech in "${SASL_MECHANISMS[@]}"; do
        [[ "$1" == reauth && "$mech" == SCRAM-SHA-256 ]] && continue
        out+="${out:+,}$mech"
    done
    echo "$out"
}

# The client files and, last (its presence means the secure listeners are ready),
# listeners.properties.
secure_write_client_files() {
    local sec="$DATA/secure" name mech user entry
    client_config_file ssl "" >/dev/null
    client_config_file mtls "" >/dev/null
    for name in "${SASL_LISTENERS[@]}"; do
        for mech in "${SASL_MECHANISMS[@]}"; do
            [[ ",$(listener_mechanisms "$name")," == *",$mech,"* ]] || continue
            client_config_file "$name" "$mech" admin >/dev/null
        done
    done
    {
        echo "# Written by scripts/kafka: the secure listeners of this cluster (node 1)."
        for entry in "${SECURE_LISTENERS[@]}"; do
            echo "${entry%%:*}=127.0.0.1:$(secure_port "${entry%%:*}")"
        done
        echo "reauth.ms=$REAUTH_MS"
        echo "reauth.mechanisms=$(listener_mechanisms reauth)"
        echo "dir=$sec"
        echo "ca.pem=$sec/ca.pem"
        echo "truststore.p12=$sec/truststore.p12"
        echo "truststore.jks=$sec/truststore.jks"
        echo "truststore.password=$(secure_password truststore)"
        echo "client.p12=$sec/client.p12"
        echo "client.jks=$sec/client.jks"
        echo "keystore.password=$(secure_password keystore)"
        echo "client.cert.pem=$sec/client-cert.pem"
        echo "client.key.pem=$sec/client-key.pem"
        echo "client.key.encrypted.pem=$sec/client-key-encrypted.pem"
        echo "key.password=$(secure_password key)"
        for user in "${SECURE_USERS[@]}"; do
            echo "user.$user.password=$(secure_password "$user")"
        done
        echo "denied.prefix=$DENIED_PREFIX"
        echo "mechanisms=$(
            IFS=,
            echo "${SASL_MECHANISMS[*]}"
        )"
    } >"$sec/listeners.properties.tmp"
    mv -f "$sec/listeners.properties.tmp" "$sec/listeners.properties"
}

have_secure() {
    [[ -n "$DATA" && -f "$DATA/secure/listeners.properties" ]]
}

require_secure() {
    have_secure || die "the cluster of $STATE has no secure listeners (only 1-node clusters started without VOLLEY_KAFKA_SECURE=0 have them)"
}
